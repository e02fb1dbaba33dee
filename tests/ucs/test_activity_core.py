"""Abandonment is judged by the last sign of life, not by age, on the fakes.

A terabyte upload can take longer than the abandonment age; while its client still asks
for part URLs, or its parts still arrive in S3 (the client sends them there directly), the
clean-up keeps it. The same over the stack: test_cleanup.py.
"""

from __future__ import annotations

from datetime import timedelta

from functions.ucs.model import ACTIVITY_RESOLUTION, CANCELLED, INIT
from tests.ucs.test_core_fakes import INBOX_BUCKET, Ucs, payload
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

MAX_AGE = timedelta(days=7)


def store_part_now(ucs: Ucs, file_id: str) -> None:
    """The client PUTs part 1 with a URL it got earlier: S3 stamps it with the time."""
    upload = ucs.repository.uploads[file_id]
    ucs.storage.upload_part(INBOX_BUCKET, file_id, upload.s3_upload_id, 1, payload())
    ucs.storage.uploads[(INBOX_BUCKET, upload.s3_upload_id)].stored[1] = ucs.clock()


def test_part_urls_record_activity_at_most_once_an_hour(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    assert ucs.repository.uploads[file_id].last_activity is None
    for _ in range(50):  # a part asked for again and again, as many parts would be
        ucs.uploads.part_url(box_id, file_id, 1)
    first = ucs.repository.uploads[file_id].last_activity
    assert first is not None
    assert ucs.repository.activity_writes == 1  # not one write per part
    ucs.clock.now += ACTIVITY_RESOLUTION
    ucs.uploads.part_url(box_id, file_id, 1)
    ucs.uploads.stored_parts(box_id, file_id)  # a resume's listing is a sign of life too
    later = ucs.repository.uploads[file_id].last_activity
    assert later is not None and later - first > ACTIVITY_RESOLUTION
    assert ucs.repository.activity_writes == 2


def test_a_closed_upload_records_no_activity(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.in_inbox(box_id)
    ucs.repository.record_activity(file_id, ucs.clock(), ucs.clock())
    assert ucs.repository.uploads[file_id].last_activity is None


def test_an_old_upload_whose_client_asks_for_part_urls_is_kept(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    ucs.clock.now += MAX_AGE - timedelta(hours=1)
    ucs.uploads.part_url(box_id, file_id, 1)
    ucs.clock.now += timedelta(days=2)  # created 9 days ago, last part URL 2 days ago
    report = ucs.cleaner.run(MAX_AGE)
    assert (report["cancelled"], report["still_active"]) == (0, 1)
    assert ucs.state(file_id) == INIT
    ucs.clock.now += timedelta(days=6)  # now the last sign of life is 8 days old
    assert ucs.cleaner.run(MAX_AGE)["cancelled"] == 1
    assert ucs.state(file_id) == CANCELLED
    assert ucs.storage.list_multipart_uploads(INBOX_BUCKET) == []


def test_an_old_upload_whose_parts_still_arrive_is_kept(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    ucs.clock.now += MAX_AGE + timedelta(days=1)
    store_part_now(ucs, file_id)  # no part URL recorded: only S3 knows
    report = ucs.cleaner.run(MAX_AGE)
    assert (report["cancelled"], report["still_active"]) == (0, 1)
    assert ucs.state(file_id) == INIT
    ucs.clock.now += MAX_AGE + timedelta(hours=1)
    assert ucs.cleaner.run(MAX_AGE)["cancelled"] == 1
    assert ucs.state(file_id) == CANCELLED


def test_an_old_upload_without_any_sign_of_life_is_cancelled(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    file_id = ucs.created(box_id)
    store_part_now(ucs, file_id)
    ucs.uploads.part_url(box_id, file_id, 1)
    ucs.clock.now += MAX_AGE + timedelta(seconds=1)
    report = ucs.cleaner.run(MAX_AGE)
    assert (report["cancelled"], report["still_active"]) == (1, 0)
    upload = ucs.repository.uploads[file_id]
    assert upload.state_reason == f"abandoned: no activity for {int(MAX_AGE.total_seconds())} s"
