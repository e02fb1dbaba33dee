"""The IFRS cores on in-memory fakes, as the fast tests build them (no stack)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.model import REGISTERED, CopySettings, Registration
from functions.ifrs.staging import Stager
from shared.clock import utcnow
from shared.events import (
    EventSchema,
    FileDeletionRequested,
    FileInterrogationSuccess,
    NonStagedFileRequested,
    parse_message,
)
from shared.manifest import PartsManifest, write_manifest
from shared.multipart import part_count
from shared.ports import ObjectStorage
from tests.fakes import InMemoryStorage, RecordingPublisher, RecordingQueue
from tests.fakes.ifrs import InMemoryCopyRepository, InMemoryFileRepository

# small parts on the fakes (they enforce no minimum): the default staged object is 4 copy
# parts, copied 2 at a time, so every test copies in several batches
FAKE_PART = 64 * 1024
FAKE_COPY = CopySettings(part_floor=FAKE_PART, parts_in_flight=2, min_part_size=FAKE_PART)


class CountingStorage(InMemoryStorage):
    """The fake storage, counting multipart copies opened and every part copied."""

    def __init__(self) -> None:
        super().__init__()
        self.copies = 0  # multipart copies opened (IRS's staging uploads are not counted)
        self.part_copies: list[tuple[str, str, int]] = []  # (bucket, key, part number)

    def create_multipart(self, bucket: str, key: str) -> str:
        self.copies += bucket != "staging"
        return super().create_multipart(bucket, key)

    def upload_part_copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        upload_id: str,
        part_number: int,
        start: int,
        end: int,
    ) -> str:
        self.part_copies.append((dst_bucket, dst_key, part_number))
        return super().upload_part_copy(
            src_bucket, src_key, dst_bucket, dst_key, upload_id, part_number, start, end
        )


class Archive:
    def __init__(self) -> None:
        self.storage: CountingStorage = CountingStorage()
        self.publisher = RecordingPublisher()
        self.files = InMemoryFileRepository()
        self.copies = InMemoryCopyRepository()
        self.queue = RecordingQueue()  # IFRS's own queue: the hand-ons

    def copier(self, settings: CopySettings = FAKE_COPY, **kwargs: Any) -> Copier:
        return Copier(storage=self.storage, settings=settings, **kwargs)

    def registry(
        self,
        clock: datetime | None = None,
        copier: Copier | None = None,
        **kwargs: Any,
    ) -> Registry:
        return Registry(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            staging_bucket="staging",
            permanent_bucket="permanent",
            copier=copier or self.copier(),
            continuations=self.queue,
            clock=(lambda: clock) if clock is not None else utcnow,
            **kwargs,
        )

    def stager(self, copier: Copier | None = None, clock: datetime | None = None) -> Stager:
        return Stager(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            copies=self.copies,
            outbox_bucket="outbox",
            copier=copier or self.copier(),
            continuations=self.queue,
            clock=(lambda: clock) if clock is not None else utcnow,
        )

    def deletion(self) -> FileDeletion:
        return FileDeletion(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.files,
            copies=self.copies,
            staging_bucket="staging",
            permanent_bucket="permanent",
            outbox_bucket="outbox",
        )

    def handed_on(self) -> list[EventSchema]:
        """The events sent to IFRS's own queue so far (taken off it)."""
        sent = [parse_message(body).parsed() for body in self.queue.sent]
        self.queue.sent.clear()
        return sent

    def staged(self, size: int = 3 * 65564 + 100, **overrides: Any) -> FileInterrogationSuccess:
        """An object in staging as IRS leaves it, and its FileInterrogationSuccess."""
        content = uuid.uuid4().bytes * (size // 16) + b"x" * (size % 16)
        staged_id = str(uuid.uuid4())
        part_size = int(overrides.get("encrypted_part_size", 5245120))
        payload = {
            "file_id": str(uuid.uuid4()),
            "box_id": str(uuid.uuid4()),
            "staged_object_id": staged_id,
            "staging_bucket": "staging",
            "secret_id": str(uuid.uuid4()),
            "offset": 124,
            "encrypted_part_size": part_size,
            "parts_manifest": stage_like_irs(
                self.storage, "staging", staged_id, content, part_size
            ),
            "decrypted_sha256": hashlib.sha256(b"plain").hexdigest(),
            "decrypted_size": size - 28 * (-(-size // 65564)),
            "encrypted_size": size,
            **overrides,
        }
        return FileInterrogationSuccess(**payload)


def stage_like_irs(
    storage: ObjectStorage, bucket: str, object_id: str, content: bytes, part_size: int
) -> dict[str, Any]:
    """The object in staging as IRS leaves it (a multipart object in parts of
    ``part_size``, so its ETag follows from the part md5s) and its part manifest beside it;
    the manifest's reference."""
    upload_id = storage.create_multipart(bucket, object_id)
    etags = [
        (number, storage.upload_part(bucket, object_id, upload_id, number, part))
        for number, part in enumerate(_parts(content, part_size), start=1)
    ]
    storage.complete_multipart(bucket, object_id, upload_id, etags)
    return staged_manifest(storage, bucket, object_id, content, part_size)


def _parts(content: bytes, part_size: int) -> list[bytes]:
    return [
        content[i * part_size : (i + 1) * part_size]
        for i in range(part_count(len(content), part_size))
    ]


def staged_manifest(
    storage: ObjectStorage, bucket: str, object_id: str, content: bytes, part_size: int
) -> dict[str, Any]:
    """The staged object's part manifest as IRS writes it beside the object; its reference."""
    parts = _parts(content, part_size)
    manifest = PartsManifest(
        part_size=part_size,
        size=len(content),
        md5=[hashlib.md5(p, usedforsecurity=False).hexdigest() for p in parts],
        sha256=[hashlib.sha256(p).hexdigest() for p in parts],
    )
    return write_manifest(storage, bucket, object_id, manifest).model_dump()


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


# ------------------------------------------------------------------ the copy tests' object

COPY_PARTS = 11  # 10 whole copy parts and a short one
COPY_SIZE = 10 * FAKE_PART + 100


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


def copy_settings(**changes: Any) -> CopySettings:
    """Copy parts of FAKE_PART bytes, 3 at a time, unless changed."""
    base = {"part_floor": FAKE_PART, "parts_in_flight": 3, "min_part_size": FAKE_PART}
    return CopySettings(**{**base, **changes})


def copied(archive: Archive, bucket: str) -> list[int]:
    """The part numbers copied into ``bucket`` so far, sorted."""
    return sorted(n for b, _, n in archive.storage.part_copies if b == bucket)


def nothing_open(archive: Archive) -> None:
    assert archive.storage.uploads == {}, "a multipart upload was left open"


def registered(archive: Archive, event: FileInterrogationSuccess) -> Registration:
    """The file's record, registered, its copy checkpoint gone."""
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == REGISTERED and item.object_id is not None
    assert item.copy_upload_id is None and item.copy_parts_done == 0
    return item
