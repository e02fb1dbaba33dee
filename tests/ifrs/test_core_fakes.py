"""The Registry and the Stager on in-memory fakes: copy once, refuse, lease, stage.

No stack: storage and publisher are tests.fakes, the files table is tests.fakes.ifrs.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ifrs.core import Registry
from functions.ifrs.errors import NotYetRegistered, RegistrationError
from functions.ifrs.model import COPYING, REGISTERED
from functions.ifrs.staging import Stager
from shared.clock import utcnow
from shared.events import FileInterrogationSuccess, NonStagedFileRequested
from tests.fakes import InMemoryStorage, RecordingPublisher
from tests.fakes.ifrs import InMemoryFileRepository

REGISTERED_EVENT = "FileInternallyRegistered"


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


def _request(event: FileInterrogationSuccess, **overrides: Any) -> NonStagedFileRequested:
    return NonStagedFileRequested(
        **{
            "file_id": event.file_id,
            "target_object_id": str(uuid.uuid4()),
            "target_bucket": "outbox",
            "decrypted_sha256": event.decrypted_sha256,
            **overrides,
        }
    )


def test_registration_copies_publishes_and_removes_the_staged_object() -> None:
    archive = Archive()
    event = archive.staged()
    content = archive.storage.data("staging", event.staged_object_id)
    archive.registry().register(event)

    [published] = archive.publisher.of(REGISTERED_EVENT)
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == REGISTERED and item.lease_owner is None
    assert published["object_id"] == item.object_id and published["bucket"] == "permanent"
    assert archive.storage.data("permanent", item.object_id) == content
    assert archive.storage.data("staging", event.staged_object_id) is None


def test_a_duplicate_registration_copies_and_publishes_nothing_more() -> None:
    archive = Archive()
    event = archive.staged()
    archive.registry().register(event)
    archive.registry().register(event)
    assert archive.storage.copies == 1
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1


def test_an_event_for_another_staged_object_of_a_known_file_is_ignored() -> None:
    archive = Archive()
    event = archive.staged()
    archive.registry().register(event)
    other = archive.staged(file_id=event.file_id)
    archive.registry().register(other)
    assert archive.storage.copies == 1
    assert archive.storage.data("staging", other.staged_object_id) is not None


def test_an_unknown_staging_bucket_is_refused_before_anything_is_stored() -> None:
    archive = Archive()
    event = archive.staged(staging_bucket="elsewhere")
    with pytest.raises(RegistrationError):
        archive.registry().register(event)
    assert archive.files.items == {} and archive.publisher.events == []


def test_a_staged_object_of_the_wrong_size_is_refused_and_the_lease_released() -> None:
    archive = Archive()
    event = archive.staged(encrypted_size=10)
    with pytest.raises(RegistrationError, match="the event says 10"):
        archive.registry().register(event)
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == COPYING and item.lease_owner is None
    assert archive.storage.copies == 0 and archive.publisher.events == []


def test_a_lease_held_by_another_invocation_is_left_alone_until_it_expires() -> None:
    archive = Archive()
    event = archive.staged()

    class Crash(BaseException):
        pass

    def die(item: object) -> None:
        raise Crash

    with pytest.raises(Crash):
        archive.registry(after_copy=die).register(event)
    archive.registry().register(event)  # the dead invocation's lease still runs
    assert archive.publisher.events == []

    archive.registry(clock=datetime.now(UTC) + timedelta(hours=1)).register(event)
    assert archive.storage.copies == 1  # the copy of the dead invocation is kept
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1


def test_a_registered_file_is_staged_to_the_outbox_once() -> None:
    archive = Archive()
    event = archive.staged()
    archive.registry().register(event)
    request = _request(event)
    assert archive.stager().stage(request) is True
    assert archive.stager().stage(request) is True  # already there: reported, not copied
    assert archive.storage.copies == 2  # the registration's and the outbox's
    assert len(archive.publisher.of("FileStagedForDownload")) == 2
    assert archive.storage.head("outbox", request.target_object_id) is not None


def test_staging_refuses_other_buckets_unknown_files_and_other_checksums() -> None:
    archive = Archive()
    event = archive.staged()
    archive.registry().register(event)
    stager = archive.stager()
    assert stager.stage(_request(event, target_bucket="permanent")) is False
    assert stager.stage(_request(event, file_id=str(uuid.uuid4()))) is False
    assert stager.stage(_request(event, decrypted_sha256="0" * 64)) is False
    assert archive.publisher.of("FileStagedForDownload") == []


def test_staging_a_file_still_being_registered_is_retried_later() -> None:
    archive = Archive()
    event = archive.staged(encrypted_size=10)
    with pytest.raises(RegistrationError):
        archive.registry().register(event)
    with pytest.raises(NotYetRegistered):
        archive.stager().stage(_request(event))
