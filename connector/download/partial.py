"""The temporary ``.c4gh.part`` file of a download and the record that makes it resumable.

The partial file has its final size from the start: the envelope at offset 0, the content
behind it, written by position as ranges arrive. Beside it, ``.c4gh.part.json`` lists the
content intervals known to be on disk. It is rewritten (atomically) only after an fsync of
the partial file, from a list taken before that fsync, so it never claims bytes that a
crash could lose. A rerun resumes only if the record matches the file (same id, size,
expected checksum) and the partial file starts with the very envelope DCS hands out now;
otherwise it starts over. ``connector.download.plain`` keeps the same record for a
download that writes the plaintext alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from connector.download.paths import DownloadPaths, place
from connector.download.ranges import Intervals
from connector.errors import TransferFailed
from connector.files import PUBLIC, new_file, open_own, read_own, write_atomic

RECORD_VERSION = 1
_sync = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True)
class ResumeRecord:
    file_id: str
    size: int  # content bytes
    envelope_sha256: str
    envelope_length: int
    expected_sha256: str | None
    done: list[tuple[int, int]]
    kind: str = "encrypted"  # or "plaintext": what the partial file holds

    def to_json(self) -> str:
        return json.dumps({"version": RECORD_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> ResumeRecord:
        """Parse a record; ValueError if it is damaged or of another version."""
        try:
            data = json.loads(text)
            if data.get("version") != RECORD_VERSION:
                raise ValueError("unknown record version")
            expected = data["expected_sha256"]
            return cls(
                file_id=str(data["file_id"]),
                size=int(data["size"]),
                envelope_sha256=str(data["envelope_sha256"]),
                envelope_length=int(data["envelope_length"]),
                expected_sha256=None if expected is None else str(expected),
                done=[(int(a), int(b)) for a, b in data["done"]],
                kind=str(data.get("kind", "encrypted")),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"damaged resume record: {type(error).__name__}") from None


def _write_all(write: Callable[[memoryview, int], int], data: memoryview, offset: int) -> None:
    while len(data):
        count = write(data, offset)
        data, offset = data[count:], offset + count


class PartialFile:
    """One download's partial file: positional writes from many threads, checkpoints."""

    KIND = "encrypted"
    MODE = PUBLIC  # Crypt4GH, encrypted for the user's key (connector.files)

    def __init__(
        self,
        paths: DownloadPaths,
        file_id: str,
        size: int,
        envelope: bytes,
        expected_sha256: str | None,
    ) -> None:
        self.paths = paths
        self.file_id = file_id
        self.size = size
        self.envelope = envelope
        self.expected_sha256 = expected_sha256
        self.restart_reason: str | None = None  # why an earlier partial download was dropped
        self._fd: int | None = None
        self._seek_lock = threading.Lock()  # for systems without pwrite (Windows)
        self._record_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.paths.partial

    @property
    def record_path(self) -> Path:
        return self.paths.record

    @property
    def final_path(self) -> Path:
        return self.paths.encrypted

    @property
    def disk_size(self) -> int:
        """The partial file's size from the start: envelope and content."""
        return len(self.envelope) + self.size

    def _record(self, done: list[tuple[int, int]]) -> ResumeRecord:
        return ResumeRecord(
            file_id=self.file_id,
            size=self.size,
            envelope_sha256=hashlib.sha256(self.envelope).hexdigest(),
            envelope_length=len(self.envelope),
            expected_sha256=self.expected_sha256,
            done=done,
            kind=self.KIND,
        )

    def open(self) -> Intervals:
        """Open the partial file (resuming a matching one); the content already there."""
        try:
            done = self._resumable()
            if done is not None:
                self._fd = open_own(self.path, os.O_RDWR, self.MODE)
                return done
            self._fd = self._create()
            os.ftruncate(self._fd, self.disk_size)
            self._save(self._record([]))
        except OSError as error:
            self.close()
            raise TransferFailed(f"Cannot write {self.path}: {error.strerror}.") from None
        except BaseException:  # UnsafeFile (a planted link), an interrupt
            self.close()
            raise
        return Intervals()

    def _create(self) -> int:
        """A fresh partial file (replacing a stale one), the envelope at its start."""
        self._fd = new_file(self.path, self.MODE, read=True)
        _write_all(self._pwrite, memoryview(self.envelope), 0)
        return self._fd

    def _starts_right(self) -> bool:
        """The file on disk begins with the envelope handed out now."""
        with os.fdopen(open_own(self.path), "rb") as handle:
            return handle.read(len(self.envelope)) == self.envelope

    def _resumable(self) -> Intervals | None:
        """The intervals of a partial file that can go on, or None (reason noted)."""
        if not os.path.lexists(self.path):
            with contextlib.suppress(FileNotFoundError):
                self.record_path.unlink()
            return None
        try:
            record = ResumeRecord.from_json(read_own(self.record_path).decode("utf-8"))
        except FileNotFoundError:
            self.restart_reason = "a partial download without its resume record was found"
            return None
        except (OSError, ValueError):  # UnsafeFile is no OSError: it goes up
            self.restart_reason = "the resume record of the partial download is damaged"
            return None
        fresh = self._record(record.done)
        if (record.file_id, record.size, record.expected_sha256, record.kind) != (
            fresh.file_id,
            fresh.size,
            fresh.expected_sha256,
            fresh.kind,
        ):
            self.restart_reason = "the partial download is of another version of the file"
            return None
        if (record.envelope_length, record.envelope_sha256) != (
            fresh.envelope_length,
            fresh.envelope_sha256,
        ) or not self._starts_right():
            self.restart_reason = "the archive now sends another envelope for this file"
            return None
        if os.lstat(self.path).st_size != self.disk_size:
            self.restart_reason = "the partial download has the wrong size"
            return None
        return Intervals(record.done).clipped(self.size)

    def _pwrite(self, data: memoryview, offset: int) -> int:
        assert self._fd is not None
        if hasattr(os, "pwrite"):
            return os.pwrite(self._fd, data, offset)
        with self._seek_lock:  # pragma: no cover - Windows
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.write(self._fd, data)

    def write_at(self, offset: int, data: memoryview) -> None:
        """Write content bytes at content ``offset`` (thread-safe)."""
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError("write outside the content")
        _write_all(self._pwrite, data, len(self.envelope) + offset)

    def checkpoint(self, snapshot: Callable[[], list[tuple[int, int]]]) -> None:
        """Make what is written durable, then record it (``snapshot`` taken before fsync)."""
        with self._record_lock:
            if self._fd is None:
                return
            done = snapshot()
            _sync(self._fd)
            self._save(self._record(done))

    def _save(self, record: ResumeRecord) -> None:
        write_atomic(self.record_path, record.to_json().encode(), self.MODE)

    def close(self) -> None:
        with self._record_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def finish(self, overwrite: bool = True) -> None:
        """The download is complete (and verified): give it its final name (without
        ``overwrite``, FileExistsError if a file of that name appeared meanwhile)."""
        self.close()
        place(self.path, self.final_path, overwrite)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()

    def discard_as_corrupt(self) -> None:
        """Keep the bad bytes for inspection under a name nobody takes for a good file."""
        self.close()
        os.replace(self.path, self.paths.corrupt)
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()
