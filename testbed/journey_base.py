"""What every walk of the journey shares: the journey's state, its steps' record, failure.

Its own module so that the walks (testbed/journey.py with fs-connector,
testbed/journey_ghga.py with GHGA's client) and the report import one copy of it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


class JourneyFailed(Exception):
    """A step did not hold; the message says what was expected."""


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


@dataclass
class Journey:
    endpoints: dict[str, Any]
    state_dir: Path
    workdir: Path
    client: str = "fs-connector"  # the client this walk drives; names the report's column
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failed_step: str | None = None
    failure: str | None = None

    def step(self, name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        print(f"  … [{self.client}] {name}", flush=True)
        try:
            detail = action()
        except JourneyFailed:
            raise
        except Exception as error:
            raise JourneyFailed(f"{name}: {type(error).__name__}: {error}") from error
        self.steps.append(Step(name, time.monotonic() - started, detail))
        print(
            f"  ✓ [{self.client}] {name} ({time.monotonic() - started:.2f}s): {detail}",
            flush=True,
        )

    def walk(self, steps: list[tuple[str, Callable[[Journey], str]]]) -> bool:
        """Take the steps in order; on the first that fails, note which and why, and stop."""
        for name, action in steps:
            try:
                self.step(name, lambda a=action: a(self))
            except JourneyFailed as failure:
                self.failed_step, self.failure = name, str(failure)
                print(f"  ✗ [{self.client}] {name}: {failure}", flush=True)
                return False
        return True

    def close(self) -> None:
        if "events" in self.facts:
            self.facts["events"].close()

    def run(self, *argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run one of our command-line tools as a user would; its stdout, or fail."""
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "FS_STACK_DIR": str(self.state_dir), **(env or {})},
        )
        if result.returncode != 0:
            raise JourneyFailed(
                f"`{' '.join(argv[:2])}` exited {result.returncode}: {result.stderr.strip()[-800:]}"
            )
        return result.stdout


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def audit_reads(events: Any, file_id: str, package_id: str) -> dict[str, int]:
    """FileDownloadServed seen for one file and work package, counted per read: the access
    (``drs_object``, ``envelope``, ``assembled``), with ``first-last`` for a partial one
    (docs/audit.md). ``events``: a testbed.events.EventStream that has settled."""
    counts: dict[str, int] = {}
    for event in events.events("FileDownloadServed", file_id):
        payload = event.payload
        if payload.get("work_package_id") != package_id:
            continue
        read = payload.get("access", "")
        if payload.get("range_start") is not None:
            read += f" {payload['range_start']}-{payload['range_end']}"
        counts[read] = counts.get(read, 0) + 1
    return counts
