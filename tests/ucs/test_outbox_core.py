"""No upload stranded by a failed publish, on the fakes (functions/ucs/announce.py).

The close records that FileUploadReceived is due in the same write that moves the upload
to ``inbox``; once that write is done the close has succeeded, whatever the publish does (the
client is not told to retry what is done). A retried close publishes a missing event, and so
does the clean-up's sweep alone once the grace period has passed. Publishing twice is
harmless. The same over the stack:
test_races.py (the retried close), test_cleanup.py (the sweep).
"""

from __future__ import annotations

from datetime import timedelta

from functions.ucs.model import INBOX, Checksums
from shared.events import FileUploadReceived
from tests.ucs.test_core_fakes import ANNOUNCE_GRACE, Ucs, payload
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

KEY = "submitter-key"


def closed_unannounced(ucs: Ucs) -> tuple[str, str, Checksums]:
    """An upload whose close moved it to the inbox, but the publish failed (once): the
    close answers success all the same."""
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())
    ucs.publisher.fail = RuntimeError("SNS throttled")
    ucs.uploads.close(box_id, file_id, checksums, KEY)
    ucs.publisher.fail = None
    upload = ucs.repository.uploads[file_id]
    assert (upload.state, upload.received_published) == (INBOX, False)
    assert [e for e in ucs.publisher.of("FileUploadReceived") if e["file_id"] == file_id] == []
    return box_id, file_id, checksums


def test_a_failed_publish_converges_by_a_retried_close(ucs: Ucs) -> None:
    box_id, file_id, checksums = closed_unannounced(ucs)
    ucs.uploads.close(box_id, file_id, checksums, KEY)
    [event] = ucs.publisher.of("FileUploadReceived")
    assert event["file_id"] == file_id and event["submitter_public_key"] == KEY
    assert ucs.repository.uploads[file_id].received_published


def test_a_failed_publish_converges_by_the_sweep_alone(ucs: Ucs) -> None:
    box_id, file_id, checksums = closed_unannounced(ucs)
    # within the grace period a close may still be running: the sweep waits
    report = ucs.cleaner.run(timedelta(days=7))
    assert report["announced"] == 0
    assert ucs.publisher.of("FileUploadReceived") == []

    ucs.clock.now += ANNOUNCE_GRACE
    report = ucs.cleaner.run(timedelta(days=7))
    assert (report["announced"], report["finished"]) == (1, True)
    [event] = ucs.publisher.of("FileUploadReceived")
    # rebuilt from the record alone: what the close would have published
    assert event["file_id"] == file_id and event["box_id"] == box_id
    assert event["submitter_public_key"] == KEY
    assert event["decrypted_sha256"] == checksums.decrypted_sha256
    assert event["encrypted_md5"] == checksums.encrypted_md5
    upload = ucs.repository.uploads[file_id]
    assert event["parts_manifest"]["sha256"] == upload.parts_manifest_sha256
    assert upload.received_published
    assert ucs.cleaner.run(timedelta(days=7))["announced"] == 0  # once is enough


def test_the_event_from_the_sweep_is_the_one_the_close_publishes(ucs: Ucs) -> None:
    """A close that publishes and dies before recording it: the sweep publishes the same
    event again, which its consumers take as the duplicate it is."""
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    checksums = ucs.put(file_id, payload())

    def lost_mark(file_id: str) -> None:
        raise RuntimeError("killed after the publish")

    ucs.repository.mark_received_published = lost_mark  # type: ignore[method-assign]
    ucs.uploads.close(box_id, file_id, checksums, KEY)  # done: the mark is the sweep's
    del ucs.repository.mark_received_published  # the real one again
    ucs.clock.now += ANNOUNCE_GRACE
    assert ucs.cleaner.run(timedelta(days=7))["announced"] == 1
    first, second = ucs.publisher.of("FileUploadReceived")
    assert first == second
    assert FileUploadReceived(**first).parts_manifest.key == f"manifests/{file_id}.json"


def test_a_sweep_whose_publish_fails_leaves_the_upload_for_the_next_run(ucs: Ucs) -> None:
    _, file_id, _ = closed_unannounced(ucs)
    ucs.clock.now += ANNOUNCE_GRACE
    ucs.publisher.fail = RuntimeError("SNS down")
    report = ucs.cleaner.run(timedelta(days=7))
    assert (report["announced"], report["finished"]) == (0, False)
    assert not ucs.repository.uploads[file_id].received_published
    ucs.publisher.fail = None
    assert ucs.cleaner.run(timedelta(days=7))["announced"] == 1
    assert len(ucs.publisher.of("FileUploadReceived")) == 1


def test_the_sweep_leaves_announced_and_moved_on_uploads_alone(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    announced = ucs.in_inbox(box_id, "announced")
    _, deleted, _ = closed_unannounced(ucs)
    ucs.deletions.purge(deleted)  # no longer in the inbox: nothing to announce
    ucs.clock.now += ANNOUNCE_GRACE
    assert ucs.cleaner.run(timedelta(days=7))["announced"] == 0
    assert [e["file_id"] for e in ucs.publisher.of("FileUploadReceived")] == [announced]
