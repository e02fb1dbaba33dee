"""The scheduled clean-up: overdue closes announced, uploads without a sign of life for too
long cancelled, orphans aborted; over the stack's S3, tables and topics."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx

from functions.ucs.model import Checksums
from functions.ucs.store import DynamoUcsRepository
from shared.adapters.aws import client
from tests.ucs.helpers import (
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    bind_tables,
    inbox,
    local_cleaner,
    local_controller,
    manifest_of,
    open_multipart_keys,
)


def test_schedule_runs_over_http_and_spares_fresh_uploads(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    file_id = submitter.created("fresh.bin", Payload.random(10))
    response = httpx.post(
        f"{endpoints['api_url']}/_runtime/schedules/ucs/clean_abandoned_uploads", timeout=60
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == {"announced", "cancelled", "still_active", "orphans_aborted", "finished"}
    assert report["finished"] is True
    # the stack's UCS_ABANDONED_UPLOAD_AGE_S is a day: a fresh upload stays open
    assert submitter.status(file_id)["state"] == "init"
    assert file_id in open_multipart_keys(endpoints)


def test_abandoned_uploads_and_orphans_are_cleaned_up(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    payload = Payload.random(TWO_PARTS)
    abandoned = submitter.created("abandoned.bin", payload)
    submitter.put_parts(abandoned, payload, numbers=[1])
    closed = submitter.uploaded("closed.txt", Payload.random(10))
    # a multipart upload no record knows (a create that died before writing its record)
    orphan = str(uuid.uuid4())
    client("s3").create_multipart_upload(Bucket=inbox(endpoints), Key=orphan)
    assert {abandoned, orphan} <= open_multipart_keys(endpoints)

    # the scheduled handler's core, with a maximum age of zero: everything open is too old
    report = local_cleaner(endpoints).run(timedelta(0))

    assert report["cancelled"] >= 1
    assert report["orphans_aborted"] >= 1
    open_keys = open_multipart_keys(endpoints)
    assert abandoned not in open_keys
    assert orphan not in open_keys
    status = submitter.status(abandoned)
    assert status["state"] == "cancelled"
    assert status["state_reason"].startswith("abandoned")
    assert submitter.status(closed)["state"] == "inbox"  # only open uploads are touched
    box = submitter.box()
    assert box["open_upload_count"] == 0
    assert box["used_size"] == 10 + 28 + 124
    # the submitter sees why, and may upload the alias again
    assert submitter.created("abandoned.bin", payload) != abandoned

    again = local_cleaner(endpoints).run(timedelta(hours=1))
    assert (again["cancelled"], again["orphans_aborted"], again["finished"]) == (0, 0, True)


def test_a_spent_time_budget_stops_the_run(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    file_id = submitter.created("later.bin", Payload.random(10))
    report = local_cleaner(endpoints).run(timedelta(0), budget_s=-1)
    assert report == {
        "announced": 0,
        "cancelled": 0,
        "still_active": 0,
        "orphans_aborted": 0,
        "finished": False,
    }
    assert submitter.status(file_id)["state"] == "init"  # left for the next run


def test_an_upload_whose_parts_still_arrive_is_not_abandoned(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    """The client sends parts to S3 directly: S3's ListParts says when each came."""
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("slow.bin", payload)
    bind_tables(endpoints)
    upload = DynamoUcsRepository().get_upload(file_id)
    assert upload is not None and upload.last_activity is None
    time.sleep(1.5)
    # part 1 with a URL handed out long ago (no activity recorded now): only S3 knows
    client("s3").upload_part(
        Bucket=inbox(endpoints),
        Key=file_id,
        UploadId=upload.s3_upload_id,
        PartNumber=1,
        Body=payload.parts[0],
    )
    # older than a second, but a part came within the last second
    report = local_cleaner(endpoints).run(timedelta(seconds=1))
    assert report["still_active"] >= 1
    assert submitter.status(file_id)["state"] == "init"
    time.sleep(1.5)
    local_cleaner(endpoints).run(timedelta(seconds=1))
    assert submitter.status(file_id)["state"] == "cancelled"
    assert file_id not in open_multipart_keys(endpoints)


def test_a_part_url_records_activity_once_an_hour(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    file_id = submitter.created("urls.bin", Payload.random(TWO_PARTS))
    bind_tables(endpoints)
    repository = DynamoUcsRepository()
    time.sleep(1.5)
    assert submitter.part_url(file_id, 1).status_code == 200
    first = repository.get_upload(file_id)
    assert first is not None and first.last_activity is not None
    assert submitter.part_url(file_id, 2).status_code == 200
    again = repository.get_upload(file_id)
    assert again is not None and again.last_activity == first.last_activity  # no new write
    # created more than a second ago, but a part URL went out within the last second
    assert local_cleaner(endpoints).run(timedelta(seconds=1))["still_active"] >= 1
    assert submitter.status(file_id)["state"] == "init"
    time.sleep(1.5)
    local_cleaner(endpoints).run(timedelta(seconds=1))
    assert submitter.status(file_id)["state"] == "cancelled"


def test_the_clean_up_announces_a_close_whose_publish_failed(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap
) -> None:
    """No client retry: the sweep alone brings FileUploadReceived out, from the record."""
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("unannounced.bin", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()

    class Down(Exception):
        pass

    class BrokenPublisher:
        def publish(self, event: object, key: str | None = None) -> str:
            raise Down

    silent = local_controller(endpoints, publisher=BrokenPublisher())
    # the close is recorded, so it succeeds: the event is owed, and the clean-up pays it
    silent.close(submitter.box_id, file_id, Checksums(**body), submitter.user.public_b64)
    assert submitter.status(file_id)["state"] == "inbox"
    assert tap.of("FileUploadReceived", file_id) == []
    # within the grace period, nothing yet (the close might still be running)
    assert local_cleaner(endpoints).run(timedelta(days=1))["announced"] == 0
    assert tap.of("FileUploadReceived", file_id) == []

    report = local_cleaner(endpoints, announce_grace=timedelta(0)).run(timedelta(days=1))
    assert report["announced"] >= 1
    [event] = tap.of("FileUploadReceived", file_id)
    assert event["payload"]["submitter_public_key"] == submitter.user.public_b64
    assert event["payload"]["encrypted_md5"] == body["encrypted_md5"]
    manifest = manifest_of(event["payload"])
    assert manifest.md5 == body["encrypted_parts_md5"]
    assert manifest.sha256 == body["encrypted_parts_sha256"]
    local_cleaner(endpoints, announce_grace=timedelta(0)).run(timedelta(days=1))
    assert len(tap.of("FileUploadReceived", file_id)) == 1  # announced once is enough
    assert submitter.close(file_id, body).status_code == 204  # a late retry: same answer
    assert len(tap.of("FileUploadReceived", file_id)) == 1
