"""The purge as UCS coordinates it, on the in-memory fakes (docs/deletion.md).

Every state can be purged; the request is recorded once and published again until every
holder confirmed; confirmations are idempotent and may come in any order; FileDeleted goes
out once all holders confirmed (again after a crash before it was recorded); the box's
counters stay exact throughout. The same flow over the real stack: test_purge.py.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from functions.ucs.model import (
    ACTIVE_STATES,
    CANCELLED,
    DELETED,
    FAILED,
    INBOX,
    INIT,
    INTERROGATED,
    REGISTERED,
    DeletionRequest,
)
from shared.errors import ServiceError
from shared.events import FileDeletionConfirmed
from shared.resources import deletion_holders
from tests.ucs.test_core_fakes import INBOX_BUCKET, Ucs, payload, refusal
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

HOLDERS = list(deletion_holders())


def confirm(ucs: Ucs, file_id: str, service: str, removed: list[str] | None = None) -> None:
    event = FileDeletionConfirmed(
        file_id=file_id, service=service, requested_by="operator", removed=removed or []
    )
    ucs.deletions.confirmed(event)


def assert_counters_exact(ucs: Ucs, box_id: str) -> None:
    """The box's counters are what its uploads say (the same writes keep both)."""
    uploads = [u for u in ucs.repository.uploads.values() if u.box_id == box_id]
    box = ucs.boxes.get(box_id)
    states = Counter(u.state for u in uploads)
    assert {k: v for k, v in box.counts.items() if v} == dict(states)
    assert box.used_size == sum(u.encrypted_size for u in uploads if u.state in ACTIVE_STATES)


def inbox_is_empty(ucs: Ucs, file_id: str) -> bool:
    """Neither the object, its manifest nor its multipart upload is left in the inbox."""
    keys = [m.key for m in ucs.storage.list_multipart_uploads(INBOX_BUCKET)]
    stored = [key for bucket, key in ucs.storage.objects if bucket == INBOX_BUCKET]
    return not [key for key in stored if file_id in key] and file_id not in keys


def upload_in(ucs: Ucs, box_id: str, state: str) -> str:
    """An upload brought to ``state`` the way UCS would bring it there."""
    if state == INIT:
        return ucs.created(box_id)
    if state == CANCELLED:
        file_id = ucs.created(box_id)
        ucs.uploads.delete(box_id, file_id)
        return file_id
    file_id = ucs.in_inbox(box_id)
    if state == INTERROGATED:
        ucs.outcomes.accepted(file_id)
    elif state == REGISTERED:
        ucs.outcomes.registered(file_id)
    elif state == FAILED:
        ucs.outcomes.rejected(file_id, "not Crypt4GH")
    return file_id


@pytest.mark.parametrize("state", [INIT, INBOX, INTERROGATED, REGISTERED, FAILED, CANCELLED])
def test_the_operator_purges_an_upload_in_any_state(ucs: Ucs, state: str) -> None:
    box_id = ucs.new_box()
    file_id = upload_in(ucs, box_id, state)
    assert ucs.state(file_id) == state
    ucs.publisher.events.clear()

    upload, recorded = ucs.deletions.purge(file_id, "consent withdrawn")

    assert recorded and upload.state == DELETED
    stored = ucs.repository.uploads[file_id]
    assert stored.state == DELETED
    assert (stored.deletion_requested_by, stored.deletion_reason) == (
        "operator",
        "consent withdrawn",
    )
    assert stored.deletion_requested is not None and stored.deletion_confirmations == {}
    assert stored.state_reason == "deleted by the archive"  # the reason stays internal
    assert inbox_is_empty(ucs, file_id)
    assert ucs.repository.alias_holder(box_id, "a.txt") is None
    assert ucs.publisher.events == [
        (
            "FileDeletionRequested",
            {"file_id": file_id, "requested_by": "operator", "reason": "consent withdrawn"},
        )
    ]
    assert_counters_exact(ucs, box_id)
    assert ucs.boxes.get(box_id).counts[DELETED] == 1
    ucs.created(box_id)  # the alias and the space are free again


def test_a_repeated_purge_publishes_again_until_every_holder_confirmed(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.publisher.events.clear()
    first, recorded = ucs.deletions.purge(file_id, "wrong sample")
    again, recorded_again = ucs.deletions.purge(file_id, "another reason")
    assert (recorded, recorded_again) == (True, False)
    assert again.deletion_requested == first.deletion_requested  # the first request counts
    requests = ucs.publisher.of("FileDeletionRequested")
    assert len(requests) == 2 and requests[0] == requests[1]
    assert requests[1]["reason"] == "wrong sample"
    assert_counters_exact(ucs, box_id)

    for service in HOLDERS:
        confirm(ucs, file_id, service)
    done, _ = ucs.deletions.purge(file_id)
    assert done.file_deleted_published is not None
    assert len(ucs.publisher.of("FileDeletionRequested")) == 2  # complete: not asked again
    assert len(ucs.publisher.of("FileDeleted")) == 1
    assert_counters_exact(ucs, box_id)


def test_confirmations_in_any_order_and_repeated_complete_the_purge_once(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.deletions.purge(file_id)
    confirm(ucs, file_id, "irs", ["staged object"])
    confirm(ucs, file_id, "irs", [])  # redelivered: the first confirmation stands
    confirm(ucs, file_id, "ekss", ["secret"])
    assert ucs.publisher.of("FileDeleted") == []
    assert ucs.repository.uploads[file_id].file_deleted_published is None
    for service in reversed(HOLDERS):
        confirm(ucs, file_id, service, ["record"])
    confirm(ucs, file_id, "dcs", ["late duplicate"])
    upload = ucs.repository.uploads[file_id]
    assert upload.deletion_confirmations == {
        "dcs": ["record"],
        "ekss": ["secret"],
        "ifrs": ["record"],
        "irs": ["staged object"],
    }
    assert ucs.publisher.of("FileDeleted") == [
        {"file_id": file_id, "requested_by": "operator", "confirmed_by": HOLDERS}
    ]
    assert upload.file_deleted_published is not None


def test_a_confirmation_nobody_asked_for_changes_nothing(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    before = ucs.repository.get_upload(file_id)
    confirm(ucs, file_id, "irs", ["everything"])  # no purge was requested
    confirm(ucs, str(uuid.uuid4()), "irs")  # no such upload
    assert ucs.repository.get_upload(file_id) == before
    ucs.deletions.purge(file_id)
    confirm(ucs, file_id, "wps", ["a work package"])  # not a holder of files
    assert ucs.repository.uploads[file_id].deletion_confirmations == {}
    assert ucs.publisher.of("FileDeleted") == []


def test_a_crash_before_file_deleted_was_recorded_publishes_it_again(
    ucs: Ucs, monkeypatch: pytest.MonkeyPatch
) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.deletions.purge(file_id)
    for service in HOLDERS[:-1]:
        confirm(ucs, file_id, service)

    def crash(*args: object) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(ucs.repository, "mark_file_deleted", crash)
        with pytest.raises(RuntimeError):
            confirm(ucs, file_id, HOLDERS[-1])
    assert ucs.repository.uploads[file_id].file_deleted_published is None
    confirm(ucs, file_id, HOLDERS[-1])  # the message is delivered again
    assert len(ucs.publisher.of("FileDeleted")) == 2  # at least once
    assert ucs.repository.uploads[file_id].file_deleted_published is not None
    confirm(ucs, file_id, HOLDERS[0])
    assert len(ucs.publisher.of("FileDeleted")) == 2


def test_the_submitter_deleting_a_closed_upload_asks_for_its_purge(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.uploads.delete(box_id, file_id, requested_by="user-1")
    upload = ucs.repository.uploads[file_id]
    assert (upload.state, upload.cancelled_from) == (CANCELLED, INBOX)
    assert (upload.deletion_requested_by, upload.deletion_reason) == (
        "user-1",
        "deleted by the submitter",
    )
    assert ucs.publisher.of("FileDeletionRequested") == [
        {"file_id": file_id, "requested_by": "user-1", "reason": "deleted by the submitter"}
    ]
    assert inbox_is_empty(ucs, file_id)
    # the operator asking too keeps it cancelled and repeats the recorded request
    upload, recorded = ucs.deletions.purge(file_id, "cleanup")
    assert (upload.state, recorded) == (CANCELLED, False)
    assert ucs.publisher.of("FileDeletionRequested")[-1]["requested_by"] == "user-1"
    for service in HOLDERS:
        confirm(ucs, file_id, service)
    [deleted] = ucs.publisher.of("FileDeleted")
    assert deleted["requested_by"] == "user-1"
    ucs.uploads.delete(box_id, file_id)  # the purge is complete: not asked again
    assert len(ucs.publisher.of("FileDeletionRequested")) == 2
    assert_counters_exact(ucs, box_id)


def test_an_open_upload_deleted_by_its_submitter_needs_no_purge(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    ucs.uploads.delete(box_id, file_id, requested_by="user-1")
    upload = ucs.repository.uploads[file_id]
    assert upload.state == CANCELLED and upload.deletion_requested is None
    assert ucs.publisher.of("FileDeletionRequested") == []
    # the operator may still purge it: then it is deleted
    purged, recorded = ucs.deletions.purge(file_id)
    assert (purged.state, recorded) == (DELETED, True)
    box = ucs.boxes.get(box_id)
    assert (box.counts[CANCELLED], box.counts[DELETED], box.used_size) == (0, 1, 0)


def test_overwriting_a_closed_upload_asks_for_its_purge(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    old = ucs.in_inbox(box_id)
    new = ucs.created(box_id, overwrite=True)  # by "user-1"
    assert ucs.state(old) == CANCELLED and ucs.state(new) == INIT
    assert ucs.publisher.of("FileDeletionRequested") == [
        {"file_id": old, "requested_by": "user-1", "reason": "replaced by a new upload"}
    ]
    assert ucs.repository.uploads[old].deletion_requested is not None
    assert inbox_is_empty(ucs, old)
    # overwriting an open upload again: nothing downstream knows it
    ucs.created(box_id, overwrite=True)
    assert ucs.repository.uploads[new].deletion_requested is None
    assert len(ucs.publisher.of("FileDeletionRequested")) == 1
    assert_counters_exact(ucs, box_id)


@pytest.mark.parametrize("state", [INTERROGATED, REGISTERED])
def test_only_the_operator_deletes_an_accepted_upload(ucs: Ucs, state: str) -> None:
    box_id = ucs.new_box()
    file_id = upload_in(ucs, box_id, state)
    with pytest.raises(ServiceError) as error:
        ucs.uploads.delete(box_id, file_id, requested_by="user-1")
    assert refusal(error) == (409, "fileUploadStateError")
    assert ucs.repository.uploads[file_id].deletion_requested is None
    assert ucs.publisher.of("FileDeletionRequested") == []


def test_unknown_and_malformed_ids_are_404_and_change_nothing(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    before = ucs.repository.get_upload(file_id)
    ucs.publisher.events.clear()
    for bad, words in ((str(uuid.uuid4()), "no upload"), ("not-a-file-id", "UUID")):
        with pytest.raises(ServiceError) as error:
            ucs.deletions.purge(bad)
        assert refusal(error) == (404, "fileUploadNotFound")
        assert words in error.value.description
    assert ucs.repository.get_upload(file_id) == before
    assert ucs.publisher.events == []


def test_outcomes_after_a_purge_leave_it_deleted(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.deletions.purge(file_id)
    ucs.outcomes.accepted(file_id)
    ucs.outcomes.registered(file_id)
    ucs.outcomes.rejected(file_id, "late")
    upload = ucs.repository.uploads[file_id]
    assert (upload.state, upload.state_reason) == (DELETED, "deleted by the archive")
    assert_counters_exact(ucs, box_id)


def test_a_close_that_loses_to_a_purge_removes_the_object_it_completed(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    stale = ucs.repository.get_upload(file_id)

    def purge_recorded_then_died(method: str) -> None:
        assert method == "transition"  # the purge's first write, before it freed anything
        request = DeletionRequest(ucs.clock(), "operator", "")
        ucs.repository.transition(stale, DELETED, now=ucs.clock(), deletion=request)

    ucs.repository.before_write = purge_recorded_then_died
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, checksums, "submitter-key")
    assert refusal(error) == (409, "fileUploadStateError")
    assert error.value.data == {"state": DELETED}
    assert ucs.storage.head(INBOX_BUCKET, file_id) is None
    assert ucs.publisher.of("FileUploadReceived") == []
    assert_counters_exact(ucs, box_id)


def test_a_purge_that_loses_to_a_close_purges_the_closed_upload(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    ucs.repository.before_write = lambda method: ucs.uploads.close(
        box_id, file_id, checksums, "submitter-key"
    )
    upload, recorded = ucs.deletions.purge(file_id)
    assert (upload.state, recorded) == (DELETED, True)
    assert ucs.repository.uploads[file_id].cancelled_from is None
    assert inbox_is_empty(ucs, file_id)  # the completed object too
    assert len(ucs.publisher.of("FileUploadReceived")) == 1  # IRS's tombstone handles it
    assert len(ucs.publisher.of("FileDeletionRequested")) == 1
    assert_counters_exact(ucs, box_id)


def test_the_clean_up_leaves_purged_uploads_alone(ucs: Ucs) -> None:
    from datetime import timedelta

    box_id = ucs.new_box()
    purged, racing = ucs.created(box_id, "purged"), ucs.created(box_id, "racing")
    ucs.deletions.purge(purged)
    ucs.clock.now += timedelta(days=8)
    # the other one is purged between the clean-up's query and its cancel
    ucs.repository.before_write = lambda method: ucs.deletions.purge(racing)
    report = ucs.cleaner.run(timedelta(days=7))
    assert report["cancelled"] == 0
    assert (ucs.state(purged), ucs.state(racing)) == (DELETED, DELETED)
    assert ucs.repository.uploads[racing].state_reason == "deleted by the archive"
    assert_counters_exact(ucs, box_id)
