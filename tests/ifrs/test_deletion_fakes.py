"""IFRS's part of a purge on in-memory fakes: tombstone first, whenever the deletion comes.

Before the success, after registration, after staging, in each window of a registration and
of a staging copy, twice; and whatever arrives after the tombstone is refused, with what it
brought removed. No stack: tests.fakes and tests.fakes.ifrs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ifrs.model import DELETED, Registration
from shared.events import EventSchema, FileInterrogationSuccess, NonStagedFileRequested
from shared.lease import StaleRecord
from tests.fakes import RecordingPublisher
from tests.fakes.ifrs import InMemoryFileRepository
from tests.ifrs.helpers import Archive, CountingStorage, deletion_request, staging_request

CONFIRMED = "FileDeletionConfirmed"
REGISTERED_EVENT = "FileInternallyRegistered"
STAGED_EVENT = "FileStagedForDownload"
BUCKETS = ("staging", "permanent", "outbox")


def _registered(archive: Archive) -> tuple[FileInterrogationSuccess, Registration]:
    event = archive.staged()
    archive.registry().register(event)
    item = archive.files.get(event.file_id)
    assert item is not None and item.object_id is not None
    return event, item


def _to_outbox(archive: Archive, event: FileInterrogationSuccess, object_id: str) -> None:
    """Staged for download as DCS asks for it: under the permanent object's id."""
    assert archive.stager().stage(staging_request(event, target_object_id=object_id)) is True


def _slow_copies(archive: Archive, to_bucket: str, during: Callable[[], None]) -> None:
    """From now on a multipart copy into ``to_bucket`` has all its parts when ``during``
    runs, and its completion lands after it (even if ``during`` aborted the upload: S3 had
    already begun to complete it); the objects stored so far are kept."""

    class SlowCopy(CountingStorage):
        def complete_multipart(
            self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
        ) -> str:
            if bucket == to_bucket:
                upload = self.uploads[(bucket, upload_id)]
                during()
                self.uploads[(bucket, upload_id)] = upload
            return super().complete_multipart(bucket, key, upload_id, parts)

    storage = SlowCopy()
    storage.objects = archive.storage.objects
    archive.storage = storage


def _deleting(archive: Archive, file_id: str) -> Callable[..., None]:
    """A hook that delivers the file's deletion request, whatever it is called with."""

    def deliver(*_: object) -> None:
        archive.deletion().on_requested(deletion_request(file_id))

    return deliver


def _confirmations(archive: Archive) -> list[dict[str, Any]]:
    return archive.publisher.of(CONFIRMED)


def _nothing_stored(archive: Archive) -> None:
    assert {bucket: archive.storage.keys(bucket) for bucket in BUCKETS} == {
        bucket: [] for bucket in BUCKETS
    }


def _tombstone(archive: Archive, file_id: str) -> Registration:
    item = archive.files.get(file_id)
    assert item is not None and item.state == DELETED
    assert item.interrogation is None and item.lease_owner is None  # no checksum, no secret id
    assert item.deleted_by == "operator" and item.deleted is not None
    return item


# ------------------------------------------------------------------ when the deletion comes


def test_a_deletion_before_the_success_leaves_a_tombstone_that_refuses_it() -> None:
    archive = Archive()
    event = archive.staged()
    archive.deletion().on_requested(deletion_request(event.file_id))
    assert _confirmations(archive) == [
        {"file_id": event.file_id, "service": "ifrs", "requested_by": "operator", "removed": []}
    ]
    item = _tombstone(archive, event.file_id)
    assert item.object_id is None and item.staged_object_id is None

    archive.registry().register(event)  # the success the deletion overtook
    assert archive.publisher.of(REGISTERED_EVENT) == []
    assert archive.storage.copies == 0
    _nothing_stored(archive)  # its staged object was removed
    assert _tombstone(archive, event.file_id).version == item.version


def test_a_deletion_after_registration_removes_the_permanent_object() -> None:
    archive = Archive()
    event, item = _registered(archive)
    archive.deletion().on_requested(deletion_request(event.file_id))
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == ["permanent object", "permanent manifest", "registration record"]
    _nothing_stored(archive)
    tombstone = _tombstone(archive, event.file_id)
    assert tombstone.object_id == item.object_id  # to remove again on a redelivery


def test_a_deletion_after_staging_removes_the_outbox_copy_too() -> None:
    archive = Archive()
    event, item = _registered(archive)
    assert item.object_id is not None
    _to_outbox(archive, event, item.object_id)
    archive.deletion().on_requested(deletion_request(event.file_id))
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "permanent object",
        "permanent manifest",
        "outbox copy",
        "registration record",
    ]
    _nothing_stored(archive)
    _tombstone(archive, event.file_id)


def test_a_deletion_wins_over_the_lease_of_a_dead_registration() -> None:
    """Killed after its copy, its lease still running: the tombstone is written anyway, and
    the redelivery after the lease ran out finds it."""
    archive = Archive()
    event = archive.staged()
    with pytest.raises(Crash):
        archive.registry(after_copy=_die).register(event)  # killed, lease still running
    archive.deletion().on_requested(deletion_request(event.file_id))
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "permanent object",
        "staged object",
        "staged manifest",
        "registration record",
    ]
    _nothing_stored(archive)
    _tombstone(archive, event.file_id)  # written whoever held the lease

    later = datetime.now(UTC) + timedelta(hours=1)
    archive.registry(clock=later).register(event)  # the redelivery after the lease ran out
    assert archive.publisher.of(REGISTERED_EVENT) == []
    _nothing_stored(archive)


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


def _die(item: Registration) -> None:
    raise Crash


# ------------------------------------------------------------------ during a registration


def test_a_deletion_between_copy_and_publish_stops_the_registration() -> None:
    archive = Archive()
    event = archive.staged()

    archive.registry(after_copy=_deleting(archive, event.file_id)).register(event)
    assert archive.publisher.of(REGISTERED_EVENT) == []
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "permanent object",
        "staged object",
        "staged manifest",
        "registration record",
    ]
    _nothing_stored(archive)
    _tombstone(archive, event.file_id)


def test_a_copy_that_lands_after_the_deletion_looked_is_removed_by_the_registry() -> None:
    archive = Archive()
    event = archive.staged()
    _slow_copies(
        archive,
        "permanent",
        lambda: archive.deletion().on_requested(deletion_request(event.file_id)),
    )
    archive.registry().register(event)

    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "open multipart permanent object",
        "staged object",
        "staged manifest",
        "registration record",
    ]  # the copy not complete yet
    assert archive.publisher.of(REGISTERED_EVENT) == []
    _nothing_stored(archive)  # the copy that landed later went too
    _tombstone(archive, event.file_id)


def test_a_deletion_between_publish_and_save_makes_the_save_lose_and_the_copy_go() -> None:
    archive = Archive()
    event = archive.staged()

    class DeletingOnRegistration(RecordingPublisher):
        def publish(self, message: EventSchema, key: str | None = None) -> str:
            event_id = super().publish(message, key)
            if type(message).__name__ == REGISTERED_EVENT:
                _deleting(archive, event.file_id)()
            return event_id

    archive.publisher = DeletingOnRegistration()
    archive.registry().register(event)  # LeaseLost at the save: handled, not raised

    # published before the tombstone: DCS's own tombstone refuses it (docs/deletion.md)
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "permanent object",
        "permanent manifest",
        "staged object",
        "staged manifest",
        "registration record",
    ]
    _nothing_stored(archive)
    _tombstone(archive, event.file_id)


def test_the_tombstone_is_retried_when_another_save_comes_first() -> None:
    archive = Archive()
    event, _ = _registered(archive)

    class Contended(InMemoryFileRepository):
        """Another writer saves once between the deletion's read and its save."""

        def __init__(self, base: InMemoryFileRepository) -> None:
            super().__init__()
            self.items = base.items
            self.interfered = False

        def save(self, item: Registration) -> None:
            if not self.interfered and item.state == DELETED:
                self.interfered = True
                winner = self.get(item.file_id)
                assert winner is not None
                super().save(winner)  # a renewed lease, say
            super().save(item)

    archive.files = Contended(archive.files)
    archive.deletion().on_requested(deletion_request(event.file_id))
    assert archive.files.interfered
    _tombstone(archive, event.file_id)
    _nothing_stored(archive)


def test_a_deletion_that_keeps_losing_is_left_for_the_redelivery() -> None:
    archive = Archive()
    event, item = _registered(archive)

    class AlwaysContended(InMemoryFileRepository):
        def save(self, item: Registration) -> None:
            raise StaleRecord(item.file_id)

    contended = AlwaysContended()
    contended.items = archive.files.items
    archive.files = contended
    with pytest.raises(StaleRecord):
        archive.deletion().on_requested(deletion_request(event.file_id))
    assert _confirmations(archive) == []
    assert archive.files.get(event.file_id) == item  # nothing removed before the tombstone
    assert item.object_id is not None and archive.storage.head("permanent", item.object_id)


# ------------------------------------------------------------------ during a staging copy


def test_a_deletion_during_a_staging_copy_removes_the_copy_and_reports_nothing() -> None:
    archive = Archive()
    event, item = _registered(archive)
    assert item.object_id is not None
    _slow_copies(archive, "outbox", _deleting(archive, event.file_id))
    staged = archive.stager().stage(staging_request(event, target_object_id=item.object_id))
    assert staged is False
    assert archive.publisher.of(STAGED_EVENT) == []
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == [
        "permanent object",
        "permanent manifest",
        "open multipart outbox copy",
        "outbox copy record",
        "registration record",
    ]  # before the copy landed
    _nothing_stored(archive)


# ------------------------------------------------------------------ repeats and late comers


def test_a_redelivered_deletion_removes_again_and_confirms_again() -> None:
    archive = Archive()
    event, item = _registered(archive)
    assert item.object_id is not None
    _to_outbox(archive, event, item.object_id)
    request = deletion_request(event.file_id)
    archive.deletion().on_requested(request)
    first = _tombstone(archive, event.file_id)
    archive.deletion().on_requested(request)
    assert [c["removed"] for c in _confirmations(archive)] == [
        ["permanent object", "permanent manifest", "outbox copy", "registration record"],
        [],
    ]
    assert _tombstone(archive, event.file_id).version == first.version  # written once
    _nothing_stored(archive)


def test_a_deletion_killed_after_the_tombstone_removes_the_rest_on_redelivery() -> None:
    archive = Archive()
    event, item = _registered(archive)
    assert item.object_id is not None
    _to_outbox(archive, event, item.object_id)

    class Dies(CountingStorage):
        def delete(self, bucket: str, key: str) -> None:
            raise Crash

    objects = archive.storage.objects
    archive.storage = Dies()
    archive.storage.objects = objects
    with pytest.raises(Crash):
        archive.deletion().on_requested(deletion_request(event.file_id))
    _tombstone(archive, event.file_id)
    assert _confirmations(archive) == []

    archive.storage = CountingStorage()
    archive.storage.objects = objects
    archive.deletion().on_requested(deletion_request(event.file_id))
    [confirmed] = _confirmations(archive)
    assert confirmed["removed"] == ["permanent object", "permanent manifest", "outbox copy"]
    _nothing_stored(archive)


def test_a_late_success_after_the_deletion_is_refused_and_its_object_removed() -> None:
    archive = Archive()
    event, _ = _registered(archive)
    archive.deletion().on_requested(deletion_request(event.file_id))
    again = archive.staged(file_id=event.file_id)  # the same id, interrogated again
    for late in (event, again):
        archive.registry().register(late)
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1  # the first registration's only
    assert archive.storage.copies == 1
    _nothing_stored(archive)
    _tombstone(archive, event.file_id)


def test_a_late_success_naming_another_bucket_removes_nothing_there() -> None:
    archive = Archive()
    event, _ = _registered(archive)
    archive.deletion().on_requested(deletion_request(event.file_id))
    archive.storage.put("elsewhere", "theirs", b"not ours")
    late = archive.staged(file_id=event.file_id).model_copy(
        update={"staging_bucket": "elsewhere", "staged_object_id": "theirs"}
    )
    with pytest.raises(Exception, match="unknown bucket"):
        archive.registry().register(late)
    assert archive.storage.data("elsewhere", "theirs") == b"not ours"


def test_a_late_staging_request_after_the_deletion_is_dropped() -> None:
    archive = Archive()
    event, item = _registered(archive)
    assert item.object_id is not None
    archive.deletion().on_requested(deletion_request(event.file_id))
    copies = archive.storage.copies
    late: NonStagedFileRequested = staging_request(event, target_object_id=item.object_id)
    assert archive.stager().stage(late) is False
    assert archive.storage.copies == copies
    assert archive.publisher.of(STAGED_EVENT) == []
    _nothing_stored(archive)


def test_a_deletion_of_another_file_touches_nothing_of_this_one() -> None:
    archive = Archive()
    event, item = _registered(archive)
    archive.deletion().on_requested(deletion_request("another-file"))
    assert archive.files.get(event.file_id) == item
    assert item.object_id is not None and archive.storage.head("permanent", item.object_id)
