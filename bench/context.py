"""What every section of a benchmark run shares: the stack, the user, the work directory,
the transfer settings, a tap on the event stream and, with ``--pin``, the stack's pinning."""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.pinning import Pinner
from bench.stack import BenchStack, BenchUser
from bench.tools import Transfer
from testbed.events import EventStream
from testbed.stack import ENDPOINTS_FILE, write_endpoints

TRACKED = ("FileUploadReceived", "FileInternallyRegistered")


@dataclass
class Uploaded:
    """An upload the connector closed: what IRS and the download need of it."""

    file_id: str
    event: dict[str, Any]  # the FileUploadReceived payload

    @property
    def object_id(self) -> str:
        return self.event["object_id"]


@dataclass
class Context:
    stack: BenchStack
    user: BenchUser
    work: Path
    transfer: Transfer
    runs: int
    events: EventStream
    endpoints_file: Path
    bench_bucket: str
    pinner: Pinner | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, stack: BenchStack, work: Path, transfer: Transfer, runs: int) -> Context:
        work.mkdir(parents=True, exist_ok=True)
        endpoints_file = work / ENDPOINTS_FILE  # for the child processes
        write_endpoints(endpoints_file, stack.endpoints)
        bucket = stack.ensure_bucket(f"{stack.endpoints['resource_prefix']}-bench")
        return cls(
            stack=stack,
            user=BenchUser.create(work / "keys"),
            work=work,
            transfer=transfer,
            runs=runs,
            events=EventStream(stack.endpoints, TRACKED),
            endpoints_file=endpoints_file,
            bench_bucket=bucket,
        )

    def close(self) -> None:
        self.events.close()

    @contextmanager
    def placed(self, pinned: bool) -> Iterator[None]:
        """The stack (and harness) on their own cores for the block, when ``pinned``;
        unpinned again afterwards, whatever happens in the block."""
        if not pinned:
            yield
            return
        if self.pinner is None:
            raise RuntimeError("a pinned measurement without --pin")
        self.pinner.pin()
        try:
            yield
        finally:
            self.pinner.unpin()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", file=sys.stderr, flush=True)

    def scratch(self, name: str) -> Path:
        """A fresh directory for one measurement (removed with ``drop``)."""
        path = self.work / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    @staticmethod
    def drop(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def uploaded(self, box_id: str, timeout: float = 300) -> Uploaded:
        """The one upload of a box, once UCS announced it (FileUploadReceived)."""
        item = self.stack.only_upload(box_id)
        event = self.events.wait_for("FileUploadReceived", item["id"], timeout=timeout)
        return Uploaded(item["id"], dict(event.payload))

    def forget_upload(self, upload: Uploaded) -> None:
        """Remove an upload's inbox object: the backend holds every byte in memory or on
        disk, and nothing reads it any more."""
        self.stack.delete_object(upload.event["bucket"], upload.object_id)
