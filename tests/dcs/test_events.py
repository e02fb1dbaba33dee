"""DCS's event handler: duplicate and reordered events are harmless."""

from __future__ import annotations

import os
from typing import Any

from shared.resources import queue_for
from tests.dcs.helpers import (
    ArchivedFile,
    Requester,
    archived_file,
    put_in_outbox,
    register,
    report_staged,
    staged_file,
)
from tests.support import EventStream, Operator, aws, queue_url, wait_until_drained


def _queue(endpoints: dict[str, Any]) -> str:
    return f"{endpoints['resource_prefix']}-dcs-events"


def _drained(endpoints: dict[str, Any]) -> None:
    """Every event published so far has been handled (or dropped) by DCS."""
    wait_until_drained(endpoints, _queue(endpoints))


def test_the_queue_is_the_declared_one(endpoints: dict[str, Any]) -> None:
    assert queue_for("dcs", "on_event").endswith("dcs-events")
    assert queue_url(endpoints, _queue(endpoints))


def test_staged_before_registered_is_ignored(endpoints: dict[str, Any], operator: Operator) -> None:
    f = archived_file(endpoints, os.urandom(1000))
    requester = Requester(endpoints, operator, [f.file_id])
    put_in_outbox(endpoints, f)
    report_staged(endpoints, f)  # for a file DCS does not know (yet)
    _drained(endpoints)
    register(endpoints, f)
    # DCS never asked for this copy: it asks now, and serves after IFRS's report
    requester.wait_for(f.file_id, 202)
    report_staged(endpoints, f)
    requester.wait_for(f.file_id, 200)


def test_duplicate_registration_does_not_downgrade_a_staged_file(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(3000))
    register(endpoints, f, size=12345)  # a duplicate, even a wrong one, changes nothing
    register(endpoints, f)
    _drained(endpoints)
    response = requester.drs(f.file_id)
    assert response.status_code == 200
    assert response.json()["size"] == len(f.content)


def test_duplicate_staged_reports_are_harmless(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(3000))
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        report_staged(endpoints, f)
        report_staged(endpoints, f)
        _drained(endpoints)
        assert requester.drs(f.file_id).status_code == 200
        stream.settle()
        assert stream.events("NonStagedFileRequested", f.file_id) == []
    finally:
        stream.close()


def test_a_staged_report_without_the_copy_is_ignored(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f = archived_file(endpoints, os.urandom(1000))
    requester = Requester(endpoints, operator, [f.file_id])
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        register(endpoints, f)
        requester.wait_for(f.file_id, 202)
        report_staged(endpoints, f)  # but nothing is in the outbox
        _drained(endpoints)
        assert requester.drs(f.file_id).status_code == 202
        put_in_outbox(endpoints, f)
        report_staged(endpoints, f)
        requester.wait_for(f.file_id, 200)
        stream.settle()
        assert len(stream.events("NonStagedFileRequested", f.file_id)) == 1
    finally:
        stream.close()


def test_a_message_that_is_no_event_is_dropped(
    endpoints: dict[str, Any], small: tuple[ArchivedFile, Requester]
) -> None:
    sqs = aws(endpoints, "sqs")
    sqs.send_message(QueueUrl=queue_url(endpoints, _queue(endpoints)), MessageBody="not json")
    _drained(endpoints)  # deleted, not redelivered
    dlq = queue_url(endpoints, f"{_queue(endpoints)}-dlq")
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    f, requester = small
    assert requester.drs(f.file_id).status_code == 200
