"""The IFRS cores on in-memory fakes, as the fast tests build them (no stack)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.staging import Stager
from shared.clock import utcnow
from shared.events import FileDeletionRequested, FileInterrogationSuccess, NonStagedFileRequested
from tests.fakes import InMemoryStorage, RecordingPublisher
from tests.fakes.ifrs import InMemoryFileRepository


class CountingStorage(InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.copies = 0

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        self.copies += 1
        super().copy(src_bucket, src_key, dst_bucket, dst_key)


class Archive:
    def __init__(self) -> None:
        self.storage = CountingStorage()
        self.publisher = RecordingPublisher()
        self.files = InMemoryFileRepository()

    def registry(self, clock: datetime | None = None, **kwargs: Any) -> Registry:
        return Registry(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            staging_bucket="staging",
            permanent_bucket="permanent",
            clock=(lambda: clock) if clock is not None else utcnow,
            **kwargs,
        )

    def stager(self) -> Stager:
        return Stager(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            outbox_bucket="outbox",
        )

    def deletion(self) -> FileDeletion:
        return FileDeletion(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            staging_bucket="staging",
            permanent_bucket="permanent",
            outbox_bucket="outbox",
        )

    def staged(self, size: int = 3 * 65564 + 100, **overrides: Any) -> FileInterrogationSuccess:
        """An object in staging as IRS leaves it, and its FileInterrogationSuccess."""
        content = uuid.uuid4().bytes * (size // 16) + b"x" * (size % 16)
        staged_id = str(uuid.uuid4())
        self.storage.put("staging", staged_id, content)
        payload = {
            "file_id": str(uuid.uuid4()),
            "box_id": str(uuid.uuid4()),
            "staged_object_id": staged_id,
            "staging_bucket": "staging",
            "secret_id": str(uuid.uuid4()),
            "offset": 124,
            "encrypted_part_size": 5245120,
            "encrypted_parts_md5": [hashlib.md5(content, usedforsecurity=False).hexdigest()],
            "encrypted_parts_sha256": [hashlib.sha256(content).hexdigest()],
            "decrypted_sha256": hashlib.sha256(b"plain").hexdigest(),
            "decrypted_size": size - 28 * (-(-size // 65564)),
            "encrypted_size": size,
            **overrides,
        }
        return FileInterrogationSuccess(**payload)


def staging_request(event: FileInterrogationSuccess, **overrides: Any) -> NonStagedFileRequested:
    return NonStagedFileRequested(
        **{
            "file_id": event.file_id,
            "target_object_id": str(uuid.uuid4()),
            "target_bucket": "outbox",
            "decrypted_sha256": event.decrypted_sha256,
            **overrides,
        }
    )


def deletion_request(file_id: str, requested_by: str = "operator") -> FileDeletionRequested:
    return FileDeletionRequested(file_id=file_id, requested_by=requested_by, reason="consent")
