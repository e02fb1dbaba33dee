"""The Registry and the Stager on in-memory fakes: copy once, refuse, lease, stage.

No stack: storage and publisher are tests.fakes, the files table is tests.fakes.ifrs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.ifrs.errors import NotYetRegistered, RegistrationError
from functions.ifrs.model import COPYING, REGISTERED
from tests.ifrs.helpers import Archive, staging_request

REGISTERED_EVENT = "FileInternallyRegistered"


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
    request = staging_request(event)
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
    assert stager.stage(staging_request(event, target_bucket="permanent")) is False
    assert stager.stage(staging_request(event, file_id=str(uuid.uuid4()))) is False
    assert stager.stage(staging_request(event, decrypted_sha256="0" * 64)) is False
    assert archive.publisher.of("FileStagedForDownload") == []


def test_staging_a_file_still_being_registered_is_retried_later() -> None:
    archive = Archive()
    event = archive.staged(encrypted_size=10)
    with pytest.raises(RegistrationError):
        archive.registry().register(event)
    with pytest.raises(NotYetRegistered):
        archive.stager().stage(staging_request(event))
