"""Local resume records: what an open upload needs to continue after an interruption.

A record holds the file's session key and Crypt4GH header, so re-encrypting the file gives
the same bytes for the parts S3 already has. That makes it as sensitive as the file
itself: it is written with mode 0600 in a 0700 directory, never logged or printed, and
deleted as soon as the upload is closed (or abandoned).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from connector.files import write_atomic

RECORD_VERSION = 1


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
            )
        except (KeyError, TypeError, AttributeError, binascii.Error) as error:
            raise ValueError(f"damaged resume record: {type(error).__name__}") from None
        if len(record.session_key) != 32:
            raise ValueError("damaged resume record: session key")
        return record


class ResumeStore:
    """One JSON file per open upload, named by its file id, in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, file_id: str) -> Path:
        return self.directory / f"{uuid.UUID(file_id)}.json"  # a UUID: no path tricks

    def load(self, file_id: str) -> ResumeRecord | None:
        """The record, or None if there is none or it cannot be used."""
        try:
            return ResumeRecord.from_json(self._path(file_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def save(self, record: ResumeRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self._path(record.file_id), record.to_json().encode(), 0o600)

    def delete(self, file_id: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._path(file_id).unlink()
