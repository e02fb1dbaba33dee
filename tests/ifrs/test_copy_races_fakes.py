"""The resumable copy (functions/ifrs/copier.py) on in-memory fakes, while others act:
duplicates and deletions during a copy, a lost checkpoint, and the part manifest copied
beside the permanent object (or refused when it is not the staged object's).

No stack: storage, publisher and queue are tests.fakes, the tables tests.fakes.ifrs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from functions.ifrs.errors import RegistrationError
from functions.ifrs.model import COPYING, Registration
from shared.lease import StaleRecord
from shared.manifest import manifest_key, read_manifest, write_manifest
from tests.fakes.ifrs import InMemoryFileRepository
from tests.ifrs.helpers import (
    COPY_PARTS,
    COPY_SIZE,
    FAKE_PART,
    Archive,
    copied,
    copy_settings,
    deletion_request,
    nothing_open,
    registered,
    staging_request,
)

REGISTERED_EVENT = "FileInternallyRegistered"
STAGED_EVENT = "FileStagedForDownload"


# ------------------------------------------------------------------ duplicates and deletions


def test_a_duplicate_during_a_copy_copies_nothing_and_the_copy_registers_once() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    calls = []

    def duplicate(parts_done: int) -> None:
        if not calls:
            calls.append(parts_done)
            archive.registry(copier=archive.copier(copy_settings())).register(event)

    archive.registry(copier=archive.copier(copy_settings(), after_batch=duplicate)).register(event)
    registered(archive, event)
    assert copied(archive, "permanent") == list(range(1, COPY_PARTS + 1))
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1
    nothing_open(archive)


def test_a_duplicate_staging_request_during_an_outbox_copy_copies_nothing() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    archive.registry().register(event)
    request = staging_request(event)
    answers: list[bool] = []

    def duplicate(parts_done: int) -> None:
        if not answers:
            answers.append(archive.stager(copier=archive.copier(copy_settings())).stage(request))

    assert archive.stager(copier=archive.copier(copy_settings(), after_batch=duplicate)).stage(
        request
    )
    assert answers == [False]  # another invocation copies it: left to that one
    assert copied(archive, "outbox") == list(range(1, COPY_PARTS + 1))
    assert len(archive.publisher.of(STAGED_EVENT)) == 1
    assert archive.copies.items == {}


def _deleting_after(archive: Archive, file_id: str, batch_parts: int) -> Callable[[int], None]:
    def deliver(parts_done: int) -> None:
        if parts_done == batch_parts:
            archive.deletion().on_requested(deletion_request(file_id))

    return deliver


def test_a_deletion_during_a_registration_copy_stops_it_at_the_next_checkpoint() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    copier = archive.copier(copy_settings(), after_batch=_deleting_after(archive, event.file_id, 3))
    archive.registry(copier=copier).register(event)

    assert copied(archive, "permanent") == [1, 2, 3, 4, 5, 6]  # the batch under way, no more
    assert archive.publisher.of(REGISTERED_EVENT) == []
    [confirmed] = archive.publisher.of("FileDeletionConfirmed")
    assert confirmed["removed"] == [
        "open multipart permanent object",
        "staged object",
        "staged manifest",
        "registration record",
    ]
    assert {b: archive.storage.keys(b) for b in ("staging", "permanent", "outbox")} == {
        "staging": [],
        "permanent": [],
        "outbox": [],
    }
    nothing_open(archive)
    item = archive.files.get(event.file_id)
    assert item is not None and item.is_tombstone and item.copy_upload_id is None


def test_a_deletion_during_an_outbox_copy_stops_it_and_removes_its_record() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    archive.registry().register(event)
    item = registered(archive, event)
    request = staging_request(event, target_object_id=item.object_id)
    copier = archive.copier(copy_settings(), after_batch=_deleting_after(archive, event.file_id, 3))

    assert archive.stager(copier=copier).stage(request) is False
    assert copied(archive, "outbox") == [1, 2, 3, 4, 5, 6]  # the batch under way, no more
    assert archive.publisher.of(STAGED_EVENT) == []
    [confirmed] = archive.publisher.of("FileDeletionConfirmed")
    assert "outbox copy record" in confirmed["removed"]
    assert archive.copies.items == {}
    assert {b: archive.storage.keys(b) for b in ("staging", "permanent", "outbox")} == {
        "staging": [],
        "permanent": [],
        "outbox": [],
    }
    nothing_open(archive)


def test_an_outbox_copy_for_another_target_stops_too_and_leaves_nothing() -> None:
    """A target the deletion does not know (not the permanent id): the stager's check of
    the file's record before each checkpoint stops it and it removes its own copy."""
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)
    archive.registry().register(event)
    request = staging_request(event)  # a target id of its own
    copier = archive.copier(copy_settings(), after_batch=_deleting_after(archive, event.file_id, 3))
    assert archive.stager(copier=copier).stage(request) is False
    assert archive.copies.items == {}
    assert archive.storage.keys("outbox") == []
    nothing_open(archive)


def test_a_lost_checkpoint_save_stops_the_copy_without_parts_in_flight() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE)

    class Taken(InMemoryFileRepository):
        """Another invocation took the record over after the first batch."""

        def save(self, item: Registration) -> None:
            if item.copy_parts_done >= 3:
                raise StaleRecord(item.file_id)
            super().save(item)

    taken = Taken()
    archive.files = taken
    archive.registry(copier=archive.copier(copy_settings())).register(event)  # handled, not raised
    assert copied(archive, "permanent") == [1, 2, 3]
    assert archive.publisher.events == []
    assert len(archive.storage.uploads) == 1  # the winner's to carry on with


# ------------------------------------------------------------------ manifests


def test_the_manifest_is_copied_beside_the_permanent_object_and_named_in_the_event() -> None:
    archive = Archive()
    event = archive.staged(size=COPY_SIZE, encrypted_part_size=2 * FAKE_PART)
    archive.registry().register(event)
    item = registered(archive, event)

    [published] = archive.publisher.of(REGISTERED_EVENT)
    ref = published["parts_manifest"]
    assert ref["bucket"] == "permanent" and ref["key"] == manifest_key(item.object_id)
    assert ref["sha256"] == event.parts_manifest.sha256 and ref["parts"] == 6
    manifest = read_manifest(archive.storage, event.parts_manifest.model_copy(update=ref))
    assert manifest.size == COPY_SIZE and manifest.part_size == 2 * FAKE_PART
    assert archive.storage.keys("staging") == []  # object and manifest both removed
    assert archive.storage.keys("permanent") == sorted([item.object_id, ref["key"]])


@pytest.mark.parametrize(
    "damage",
    [
        {"sha256": "0" * 64},
        {"bucket": "elsewhere"},
        {"key": "manifests/another.json"},
        {"parts": 2},
    ],
)
def test_a_manifest_that_is_not_the_staged_objects_is_refused(damage: dict[str, Any]) -> None:
    archive = Archive()
    event = archive.staged()
    bad = event.model_copy(
        update={"parts_manifest": event.parts_manifest.model_copy(update=damage)}
    )
    with pytest.raises(RegistrationError, match="manifest"):
        archive.registry().register(bad)
    assert archive.publisher.events == []
    item = archive.files.get(event.file_id)
    assert item is not None and item.state == COPYING and item.lease_owner is None


def test_a_manifest_whose_md5s_are_not_the_staged_objects_parts_is_refused() -> None:
    """The staged object's ETag is S3's md5 of its part md5s: a manifest (even a well-formed
    one, with a matching digest) listing other md5s does not describe it."""
    archive = Archive()
    event = archive.staged()
    manifest = read_manifest(archive.storage, event.parts_manifest)
    other = manifest.model_copy(update={"md5": ["0" * 32] * manifest.parts})
    ref = write_manifest(archive.storage, "staging", event.staged_object_id, other)
    with pytest.raises(RegistrationError, match="does not describe the staged object"):
        archive.registry().register(event.model_copy(update={"parts_manifest": ref}))
    assert archive.publisher.events == []
    assert archive.storage.keys("permanent") == []


def test_a_late_success_for_a_deleted_file_removes_what_a_killed_copy_left() -> None:
    """A registration killed after the deletion's removal may have completed its copy or
    written the permanent manifest; the redelivered success finds the tombstone and removes
    them (the tombstone keeps the permanent object id)."""
    archive = Archive()
    event = archive.staged()
    archive.registry().register(event)
    item = registered(archive, event)
    archive.deletion().on_requested(deletion_request(event.file_id))
    # the killed turn's last writes, landing after the deletion's removal:
    archive.storage.put("permanent", item.object_id, b"late copy")
    archive.storage.put("permanent", manifest_key(item.object_id), b"{}")
    archive.storage.create_multipart("permanent", item.object_id)
    archive.registry().register(event)  # the killed turn's message, redelivered
    assert archive.storage.keys("permanent") == []
    assert archive.storage.list_multipart_uploads("permanent") == []
    assert len(archive.publisher.of(REGISTERED_EVENT)) == 1  # the one before the deletion
