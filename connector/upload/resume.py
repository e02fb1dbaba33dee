"""Local resume records: what an open upload needs to continue after an interruption.

A record holds the file's session key and Crypt4GH header, so re-encrypting the file gives
the same bytes for the parts S3 already has. That makes it as sensitive as the file
itself: it is written with mode 0600 in a 0700 directory, never logged or printed, and
deleted as soon as the upload is closed (or abandoned).

Beside it, a parts log (``<file id>.parts``) gets one line per part once S3 has it: its
number, md5 (none on the wire extension's path, docs/checksums.md) and sha256 (what
closing declares) and the encryption's ``Boundary`` at its end
(the plaintext SHA-256 state, the next segment, the at most 124 cipher bytes that spill
into the next part). A resume starts at the first part the log and S3 do not both have,
seeking there: the parts before it are neither read nor encrypted again. A line has at
most about 500 bytes, so 10,000 parts make 5 MB (``LOG_LINE_BYTES``); the log is appended to
(no rewrite per part) and written anew, cut to its valid prefix, when a resume starts.
A line cut short by a crash is ignored.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from connector.errors import TransferFailed
from connector.files import open_append_own, read_own, write_atomic
from connector.upload.encrypt import Boundary
from shared.crypt.resumable_sha256 import STATE_SIZE

RECORD_VERSION = 1
LOG_VERSION = 1
LOG_LINE_BYTES = 500  # at most, per part (segment numbers of 5 TiB included): docs/limits.md


@dataclass(frozen=True)
class ResumeRecord:
    file_id: str
    box_id: str
    alias: str
    storage_alias: str
    path: str  # informational: where the file was when the upload started
    size: int
    mtime_ns: int
    part_size: int
    session_key: bytes = field(repr=False)
    header: bytes = field(repr=False)
    # the rest of the file's identity (FileToUpload.identity); None in an older record,
    # which then never skips reading the parts already uploaded
    ctime_ns: int | None = None
    inode: int | None = None
    device: int | None = None
    # "sha256": the UCS verifies parts by their SHA-256 (the wire extension); None: MD5s
    part_checksum: str | None = None

    @property
    def identity(self) -> tuple[int | None, ...]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device)

    def to_json(self) -> str:
        data = {
            "version": RECORD_VERSION,
            "file_id": self.file_id,
            "box_id": self.box_id,
            "alias": self.alias,
            "storage_alias": self.storage_alias,
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "part_size": self.part_size,
            "session_key": base64.b64encode(self.session_key).decode(),
            "header": base64.b64encode(self.header).decode(),
            "ctime_ns": self.ctime_ns,
            "inode": self.inode,
            "device": self.device,
            "part_checksum": self.part_checksum,
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ResumeRecord:
        """Parse a record; ValueError if it is damaged or of another version."""
        try:
            data = json.loads(text)
            if data.get("version") != RECORD_VERSION:
                raise ValueError("unknown record version")
            record = cls(
                file_id=str(data["file_id"]),
                box_id=str(data["box_id"]),
                alias=str(data["alias"]),
                storage_alias=str(data["storage_alias"]),
                path=str(data["path"]),
                size=int(data["size"]),
                mtime_ns=int(data["mtime_ns"]),
                part_size=int(data["part_size"]),
                session_key=base64.b64decode(data["session_key"], validate=True),
                header=base64.b64decode(data["header"], validate=True),
                ctime_ns=_optional_int(data.get("ctime_ns")),
                inode=_optional_int(data.get("inode")),
                device=_optional_int(data.get("device")),
                part_checksum=_optional_str(data.get("part_checksum")),
            )
        except (KeyError, TypeError, AttributeError, binascii.Error) as error:
            raise ValueError(f"damaged resume record: {type(error).__name__}") from None
        if len(record.session_key) != 32:
            raise ValueError("damaged resume record: session key")
        return record


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _unwritable(path: Path, error: OSError) -> TransferFailed:
    return TransferFailed(f"Cannot write the resume record {path}: {error.strerror}.")


@dataclass(frozen=True)
class PartDone:
    """A part S3 holds: its checksums, and where the encryption stood at its end. On the
    wire extension's path there is no md5, and the line means that S3 answered 200 to a
    PUT whose URL signed this sha256: S3 verified the part's bytes against it."""

    number: int
    md5: str | None
    sha256: str
    end: Boundary | None  # None: the hash state could not be saved on this machine

    def to_line(self) -> str:
        data: dict = {"v": LOG_VERSION, "n": self.number, "sha256": self.sha256}
        if self.md5 is not None:
            data["md5"] = self.md5
        if self.end is not None:
            data["segment"] = self.end.segment
            data["state"] = base64.b64encode(self.end.sha256_state).decode()
            data["carry"] = base64.b64encode(self.end.carry).decode()
        return json.dumps(data, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> PartDone:
        """ValueError for a damaged line (e.g. one a crash cut short)."""
        try:
            data = json.loads(line)
            if data.get("v") != LOG_VERSION:
                raise ValueError("unknown log version")
            end = None
            if "state" in data:
                end = Boundary(
                    segment=int(data["segment"]),
                    sha256_state=base64.b64decode(data["state"], validate=True),
                    carry=base64.b64decode(data["carry"], validate=True),
                )
            md5 = data.get("md5")
            part = cls(int(data["n"]), None if md5 is None else str(md5), str(data["sha256"]), end)
        except (KeyError, TypeError, AttributeError, binascii.Error) as error:
            raise ValueError(f"damaged log line: {type(error).__name__}") from None
        if part.number < 1 or len(part.md5 or "0" * 32) != 32 or len(part.sha256) != 64:
            raise ValueError("damaged log line")
        if end is not None and (len(end.sha256_state) != STATE_SIZE or end.segment < 0):
            raise ValueError("damaged log line: boundary")
        return part


class PartsLog:
    """Appends a line per finished part; the event loop calls it, one line at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    def __enter__(self) -> PartsLog:
        try:
            # created exclusively, or reopened only if it is still the connector's own
            # (a planted link or someone else's file is refused, never written through)
            self._handle = os.fdopen(open_append_own(self.path, 0o600), "a")
        except OSError as error:
            raise _unwritable(self.path, error) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def append(self, part: PartDone) -> None:
        """One line, handed to the system at once: a killed process loses nothing of it
        (no fsync: after a power loss a lost line only means that part is read again)."""
        assert self._handle is not None, "open the log with 'with'"
        try:
            self._handle.write(part.to_line())
            self._handle.flush()
        except OSError as error:
            raise _unwritable(self.path, error) from None


class ResumeStore:
    """One JSON file per open upload, named by its file id, in ``directory``, and its
    parts log beside it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, file_id: str, suffix: str = ".json") -> Path:
        return self.directory / f"{uuid.UUID(file_id)}{suffix}"  # a UUID: no path tricks

    def load(self, file_id: str) -> ResumeRecord | None:
        """The record, or None if there is none or it cannot be used."""
        try:
            return ResumeRecord.from_json(read_own(self._path(file_id)).decode("utf-8"))
        except (OSError, ValueError):
            return None

    def save(self, record: ResumeRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self._path(record.file_id), record.to_json().encode(), 0o600)

    def parts(self, file_id: str) -> dict[int, PartDone]:
        """The parts the log names (the last line of a part wins), damaged lines left out."""
        try:
            text = read_own(self._path(file_id, ".parts")).decode("utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        done: dict[int, PartDone] = {}
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                part = PartDone.from_line(line)
                done[part.number] = part
        return done

    def start_log(self, file_id: str, kept: list[PartDone]) -> PartsLog:
        """The log of an upload that goes on, holding ``kept`` and nothing else (written
        anew, atomically: it never holds more lines than the file has parts)."""
        path = self._path(file_id, ".parts")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, "".join(p.to_line() for p in kept).encode(), 0o600)
        except OSError as error:
            raise _unwritable(path, error) from None
        return PartsLog(path)

    def delete(self, file_id: str) -> None:
        for suffix in (".json", ".parts"):
            with contextlib.suppress(FileNotFoundError, ValueError):
                self._path(file_id, suffix).unlink()
