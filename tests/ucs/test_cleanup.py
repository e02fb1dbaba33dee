"""The scheduled clean-up: uploads left open too long are cancelled, orphans aborted."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from shared.adapters.aws import client
from tests.ucs.helpers import (
    TWO_PARTS,
    Payload,
    Submitter,
    inbox,
    local_cleaner,
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
    assert set(report) == {"cancelled", "orphans_aborted", "finished"}
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
    assert again == {"cancelled": 0, "orphans_aborted": 0, "finished": True}


def test_a_spent_time_budget_stops_the_run(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    file_id = submitter.created("later.bin", Payload.random(10))
    report = local_cleaner(endpoints).run(timedelta(0), budget_s=-1)
    assert report == {"cancelled": 0, "orphans_aborted": 0, "finished": False}
    assert submitter.status(file_id)["state"] == "init"  # left for the next run
