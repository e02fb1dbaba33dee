"""IRS's part of a deletion on in-memory fakes: the tombstone, the staging's removal and the
confirmation, whenever the request comes (before the upload's events, between them, while
the file streams, between completing and saving, after the success) and however often.

After every deletion nothing of the file may be left in staging (no object, no open
multipart upload, no manifest) nor of its part items, no outcome may be published after the
tombstone, and a late event of the upload must find the tombstone and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from functions.irs.deletion import (
    PART_ITEMS,
    RECORD,
    STAGED_MANIFEST,
    STAGED_OBJECT,
    STAGING_UPLOAD,
    Deletion,
    tombstone,
)
from functions.irs.model import DELETED, RUNNING, SUCCEEDED, WAITING, Interrogation, Upload
from functions.irs.wire import parse
from shared.crypt import c4gh
from shared.events import FileDeletionRequested, envelope
from shared.manifest import manifest_key
from tests.fakes import InMemoryKeyStore, InMemoryStorage
from tests.irs.helpers import encrypt_file
from tests.irs.test_core_fakes import ARCHIVE, FAILURE, SUBMITTER, SUCCESS, Room, _plain

CONFIRMED = "FileDeletionConfirmed"


class HookedStorage(InMemoryStorage):
    """The fake store that runs a hook right after a multipart upload was created or
    completed: where a deletion overtakes an invocation between two of its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.after_create: Callable[[], None] | None = None
        self.after_complete: Callable[[], None] | None = None

    def create_multipart(self, bucket: str, key: str) -> str:
        upload_id = super().create_multipart(bucket, key)
        if bucket == "staging" and self.after_create is not None:
            self.after_create()
        return upload_id

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> str:
        etag = super().complete_multipart(bucket, key, upload_id, parts)
        if self.after_complete is not None:
            self.after_complete()
        return etag


class DeletionRoom(Room):
    def __init__(self, max_parts: int = 0) -> None:
        super().__init__(max_parts)
        self.storage = HookedStorage()
        self.keys = InMemoryKeyStore(ARCHIVE[0], self.storage)

    def deletion(self) -> Deletion:
        return Deletion(
            storage=self.storage,
            publisher=self.publisher,
            repository=self.repository,
            settings=self.settings,
        )

    def delete(self, upload: Upload) -> dict[str, object]:
        """Deliver one FileDeletionRequested for the upload; the confirmation's payload."""
        before = len(self.publisher.of(CONFIRMED))
        self.deletion().file_deletion_requested(request(upload.file_id))
        confirmations = self.publisher.of(CONFIRMED)
        assert len(confirmations) == before + 1
        return confirmations[-1]

    def bury_only(self, upload: Upload) -> None:
        """The deletion's first step alone: its removal has not reached staging yet."""
        item = self.repository.get(upload.object_id)
        self.repository.save(tombstone(upload.object_id, item, "operator"))

    def tombstone(self, upload: Upload) -> Interrogation:
        item = self.repository.get(upload.object_id)
        assert item is not None and item.state == DELETED
        assert item.upload is None and item.outcome is None and item.object_size is None
        assert item.hash_state is None and item.parts_staged == 0
        assert item.secret_id is None and item.lease_owner is None
        assert item.deleted_by == "operator"
        return item

    def assert_staging_empty(self) -> None:
        assert self.storage.keys("staging") == []
        assert self.storage.list_multipart_uploads("staging") == []
        assert self.repository.part_items == {}

    def assert_late_events_change_nothing(self, upload: Upload, size: int) -> None:
        irs = self.irs()
        saves, events = self.repository.saves, list(self.publisher.events)
        irs.object_created(upload.object_id, size)
        irs.upload_received(upload)
        irs.resume(upload.object_id)
        assert self.repository.saves == saves and self.publisher.events == events
        assert self.queue.sent == []
        self.tombstone(upload)
        self.assert_staging_empty()


def request(file_id: str) -> FileDeletionRequested:
    return FileDeletionRequested(file_id=file_id, requested_by="operator", reason="consent")


def test_the_deletion_request_is_told_apart_on_the_queue() -> None:
    event = request("a-file")
    assert parse(envelope(event, event.file_id).model_dump_json()) == event
    body = json.loads(envelope(event).model_dump_json())
    body["payload"].pop("requested_by")
    assert parse(json.dumps(body)) is None  # a malformed request is dropped, not retried


def test_a_deletion_before_any_event_leaves_a_tombstone_that_refuses_them() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(1.5))

    confirmation = room.delete(upload)
    assert confirmation == {
        "file_id": upload.file_id,
        "service": "irs",
        "requested_by": "operator",
        "removed": [],
    }
    room.tombstone(upload)
    room.assert_late_events_change_nothing(upload, size)
    assert room.keys.secrets == {}  # no secret was asked for


@pytest.mark.parametrize("half", ["notification", "event"])
def test_a_deletion_after_one_half_drops_the_record_and_refuses_the_other(half: str) -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(1.5))
    irs = room.irs()
    if half == "notification":
        irs.object_created(upload.object_id, size)
    else:
        irs.upload_received(upload)
    assert room.repository.get(upload.object_id).state == WAITING  # type: ignore[union-attr]

    assert room.delete(upload)["removed"] == [RECORD]
    room.tombstone(upload)
    room.assert_late_events_change_nothing(upload, size)
    assert room.keys.secrets == {}


def test_a_deletion_mid_stream_stops_the_invocation_and_leaves_nothing_in_staging() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(3.5))  # four staged parts
    irs = room.irs()
    confirmations: list[dict[str, object]] = []

    def delete_after_first_part(parts: int) -> None:
        if parts == 1:  # this invocation holds the lease and carries on after the hook
            item = room.repository.get(upload.object_id)
            assert item is not None and item.state == RUNNING and item.lease_owner
            confirmations.append(room.delete(upload))

    irs.after_part = delete_after_first_part
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert [c["removed"] for c in confirmations] == [[STAGING_UPLOAD, PART_ITEMS, RECORD]]
    assert room.publisher.of(SUCCESS) == room.publisher.of(FAILURE) == []
    room.tombstone(upload)
    room.assert_staging_empty()
    room.assert_late_events_change_nothing(upload, size)


def test_an_invocation_that_finds_the_tombstone_at_its_next_save_undoes_its_staging() -> None:
    """Only the tombstone is written mid-file: the invocation's next part goes to the still
    open staging upload, its save fails, and the invocation itself aborts that upload."""
    room = DeletionRoom()
    upload, size = room.upload(_plain(3.5))
    irs = room.irs()
    irs.after_part = lambda parts: room.bury_only(upload) if parts == 1 else None
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert room.publisher.events == []
    room.tombstone(upload)
    room.assert_staging_empty()  # before the deletion's own removal ran
    assert room.delete(upload)["removed"] == []


@pytest.mark.parametrize("at_part", [2, 3])
def test_a_deletion_before_the_last_saves_stops_at_the_next_save(at_part: int) -> None:
    """At part 3 of 3 the next save is the one of COMPLETING; at 2 that of part 3."""
    room = DeletionRoom()
    upload, size = room.upload(_plain(2.5))
    irs = room.irs()
    irs.after_part = lambda parts: room.delete(upload) if parts == at_part else None
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert room.publisher.of(SUCCESS) == []
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_deletion_of_a_file_being_refused_publishes_no_failure() -> None:
    room = DeletionRoom()
    header = len(encrypt_file(b"", SUBMITTER[0], ARCHIVE[1]))
    # part 2 is damaged: its refusal comes after part 1's checkpoint and the deletion
    upload, size = room.upload(_plain(2.5), tamper_at=header + 80 * c4gh.CIPHER_SEGMENT_SIZE + 9)
    irs = room.irs()
    irs.after_part = lambda parts: room.delete(upload) if parts == 1 else None
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert room.publisher.of(FAILURE) == room.publisher.of(SUCCESS) == []
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_deletion_while_the_staging_upload_is_opened_aborts_it() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(1.5))
    # after S3 opened the upload, before the record names its id (the key it names already)
    room.storage.after_create = lambda: room.delete(upload)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert room.publisher.of(SUCCESS) == []
    assert room.publisher.of(CONFIRMED)[0]["removed"] == [STAGING_UPLOAD, RECORD]
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_tombstone_between_completing_and_publishing_deletes_the_completed_object() -> None:
    """The deletion's removal comes only later (or raced the completion and lost): the
    invocation re-reads its record before publishing, finds the tombstone, publishes nothing
    and deletes the object it completed."""
    room = DeletionRoom()
    upload, size = room.upload(_plain(2.5))
    room.storage.after_complete = lambda: room.bury_only(upload)
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert room.publisher.events == []
    room.tombstone(upload)
    room.assert_staging_empty()  # before the deletion's own removal ran
    assert room.delete(upload)["removed"] == []


def test_a_deletion_between_completing_and_saving_deletes_the_completed_object() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(2.5))
    seen: list[list[str]] = []

    def delete_now() -> None:
        # the staged object is complete; the deletion removes it, the invocation may not
        # put anything back, nor tell IFRS about it
        seen.append(room.storage.keys("staging"))
        room.delete(upload)

    room.storage.after_complete = delete_now
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)

    assert len(seen) == 1 and len(seen[0]) == 2  # the object and its manifest
    removed = room.publisher.of(CONFIRMED)[0]["removed"]
    assert removed == [STAGED_OBJECT, STAGED_MANIFEST, RECORD]  # the items went before
    assert room.publisher.of(SUCCESS) == []  # re-read before publishing: it was deleted
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_deletion_after_success_removes_the_staged_object() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(2.5))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    [success] = room.publisher.of(SUCCESS)
    staged = success["staged_object_id"]
    assert room.storage.keys("staging") == sorted([staged, manifest_key(staged)])
    assert room.repository.get(upload.object_id).state == SUCCEEDED  # type: ignore[union-attr]

    assert room.delete(upload)["removed"] == [STAGED_OBJECT, STAGED_MANIFEST, RECORD]
    assert room.tombstone(upload).staged_object_id == success["staged_object_id"]
    room.assert_staging_empty()
    room.assert_late_events_change_nothing(upload, size)
    assert len(room.publisher.of(SUCCESS)) == 1


def test_a_deletion_of_a_handed_on_file_leaves_its_continuation_nothing_to_do() -> None:
    room = DeletionRoom(max_parts=1)
    upload, size = room.upload(_plain(2.5))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    assert len(room.queue.sent) == 1

    assert room.delete(upload)["removed"] == [STAGING_UPLOAD, PART_ITEMS, RECORD]
    assert room.drain(irs) == 1  # the continuation ran and found the tombstone
    assert room.queue.sent == [] and room.publisher.of(SUCCESS) == []
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_deletion_wins_over_a_lease_held_by_another_invocation() -> None:
    room = DeletionRoom(max_parts=1)
    upload, size = room.upload(_plain(2.5))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    item = room.repository.get(upload.object_id)
    assert item is not None
    item.lease_owner, item.lease_until = "another", datetime.now(UTC) + timedelta(minutes=5)
    room.repository.save(item)
    room.repository.stale_saves = 3  # and it keeps saving meanwhile: the tombstone retries

    assert room.delete(upload)["removed"] == [STAGING_UPLOAD, PART_ITEMS, RECORD]
    room.tombstone(upload)
    room.assert_staging_empty()


def test_a_repeated_request_runs_the_removal_again_and_confirms_again() -> None:
    room = DeletionRoom()
    upload, size = room.upload(_plain(2.5))
    irs = room.irs()
    irs.object_created(upload.object_id, size)
    irs.upload_received(upload)
    [success] = room.publisher.of(SUCCESS)

    assert room.delete(upload)["removed"] == [STAGED_OBJECT, STAGED_MANIFEST, RECORD]
    saves = room.repository.saves
    assert room.delete(upload)["removed"] == []  # nothing left to remove; said again
    assert room.repository.saves == saves  # the tombstone is not written again
    # an object put back by anything in between goes with the repeat
    room.storage.put("staging", success["staged_object_id"], b"late")
    assert room.delete(upload)["removed"] == [STAGED_OBJECT]
    assert len(room.publisher.of(CONFIRMED)) == 3
    room.tombstone(upload)
    room.assert_staging_empty()
