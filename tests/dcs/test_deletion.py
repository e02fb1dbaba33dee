"""DCS's part of a deletion over the real stack: FileDeletionRequested on DCS's queue, the
tombstone in DynamoDB, the outbox copy and every envelope item gone, the confirmation.

The table is scanned by the test itself: nothing of the file may be left in it, whatever
the repository thinks it recorded.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.dcs.deletion import DeletionHandler
from functions.dcs.errors import ObjectDeleted
from functions.dcs.model import Reader
from functions.dcs.store import DynamoDrsRepository
from shared.adapters.aws import client
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.events import FileDeletionRequested
from shared.resources import table_name
from tests.dcs.helpers import (
    Requester,
    archived_file,
    in_outbox,
    outbox,
    put_in_outbox,
    register,
    report_staged,
    staged_file,
)
from tests.support import (
    EventStream,
    Operator,
    assert_error,
    aws,
    publish_event,
    stack_topic_arn,
    wait_until_drained,
)

CONFIRMED = "FileDeletionConfirmed"


def _drained(endpoints: dict[str, Any]) -> None:
    wait_until_drained(endpoints, f"{endpoints['resource_prefix']}-dcs-events")


def _request_deletion(endpoints: dict[str, Any], file_id: str, by: str = "operator") -> None:
    """Publish FileDeletionRequested, as UCS does for a purge."""
    payload = {"file_id": file_id, "requested_by": by, "reason": "consent withdrawn"}
    publish_event(endpoints, "FileDeletionRequested", payload, key=file_id)


def _dcs_confirmations(stream: EventStream, file_id: str, count: int) -> list[dict[str, Any]]:
    """DCS's confirmations for the file, once there are ``count`` (other holders confirm
    on the same topic), bounded."""
    deadline = time.monotonic() + 60
    while True:
        found = [
            e.payload for e in stream.events(CONFIRMED, file_id) if e.payload["service"] == "dcs"
        ]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} confirmations by dcs for {file_id}")
        stream.poll()


def _items(endpoints: dict[str, Any], file_id: str) -> list[dict[str, Any]]:
    """Every item of DCS's table that is of the file: its object and its envelopes."""
    dynamodb = aws(endpoints, "dynamodb")
    table = table_name("drs_objects", endpoints["resource_prefix"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "file_id = :f OR begins_with(file_id, :e)",
        "ExpressionAttributeValues": {":f": {"S": file_id}, ":e": {"S": f"envelope#{file_id}#"}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _envelope_items(endpoints: dict[str, Any], file_id: str) -> list[dict[str, Any]]:
    return [i for i in _items(endpoints, file_id) if i["file_id"]["S"].startswith("envelope#")]


def _tombstone(endpoints: dict[str, Any], file_id: str) -> dict[str, Any]:
    [item] = [i for i in _items(endpoints, file_id) if i["file_id"]["S"] == file_id]
    assert item["state"] == {"S": "deleted"}
    # no content, no key, no checksum: only the id, the outbox key, who and when
    assert set(item) <= {"file_id", "state", "object_id", "created", "deleted_by", "deleted_at"}
    return item


def _assert_every_route_404(requester: Requester, file_id: str) -> None:
    assert_error(requester.drs(file_id), 404, "fileDeleted")
    assert_error(requester.envelope(file_id), 404, "fileDeleted")
    assert_error(requester.assembled(file_id, "bytes=0-99"), 404, "fileDeleted")
    assert requester.assembled(file_id, method="HEAD").status_code == 404


def test_a_served_file_deleted_is_gone_from_every_route_bucket_and_table(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f, alice = staged_file(endpoints, operator, os.urandom(5000))
    bob = Requester(endpoints, operator, [f.file_id])
    for reader in (alice, bob):
        assert reader.envelope(f.file_id).status_code == 200
        assert reader.assembled(f.file_id, "bytes=0-99").status_code == 206
    assert len(_envelope_items(endpoints, f.file_id)) == 2

    stream = EventStream(endpoints, [CONFIRMED])
    try:
        _request_deletion(endpoints, f.file_id)
        [confirmation] = _dcs_confirmations(stream, f.file_id, 1)
        assert confirmation == {
            "file_id": f.file_id,
            "service": "dcs",
            "requested_by": "operator",
            "removed": ["outbox copy", "2 envelopes", "download record"],
        }
        for reader in (alice, bob):
            _assert_every_route_404(reader, f.file_id)
        assert not in_outbox(endpoints, f)
        assert _envelope_items(endpoints, f.file_id) == []
        tombstone = _tombstone(endpoints, f.file_id)
        assert tombstone["deleted_by"] == {"S": "operator"}

        # late events: IFRS's copy and a redelivered registration are refused
        put_in_outbox(endpoints, f)
        report_staged(endpoints, f)
        register(endpoints, f)
        _drained(endpoints)
        assert not in_outbox(endpoints, f)
        assert _tombstone(endpoints, f.file_id) == tombstone
        _assert_every_route_404(alice, f.file_id)

        # a redelivered request (another asker) removes again and confirms again
        _request_deletion(endpoints, f.file_id, by="user-1")
        second = _dcs_confirmations(stream, f.file_id, 2)[1]
        assert second["removed"] == [] and second["requested_by"] == "user-1"
        assert _tombstone(endpoints, f.file_id)["deleted_by"] == {"S": "operator"}
    finally:
        stream.close()


def test_a_deletion_that_overtook_the_registration_wins(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f = archived_file(endpoints, os.urandom(1000))
    requester = Requester(endpoints, operator, [f.file_id])
    stream = EventStream(endpoints, [CONFIRMED, "NonStagedFileRequested"])
    try:
        _request_deletion(endpoints, f.file_id)
        assert _dcs_confirmations(stream, f.file_id, 1)[0]["removed"] == []
        register(endpoints, f)
        _drained(endpoints)
        assert set(_tombstone(endpoints, f.file_id)) == {
            "file_id",
            "state",
            "deleted_by",
            "deleted_at",
        }
        _assert_every_route_404(requester, f.file_id)
        stream.settle()
        assert stream.events("NonStagedFileRequested", f.file_id) == []
    finally:
        stream.close()


class DeletedMeanwhile:
    """The stack's key store, but the file is deleted while its envelope is being built:
    the tombstone lands between DCS's read of the object and its write of the envelope."""

    def __init__(self, keys: Any, delete: Any) -> None:
        self.keys, self.delete = keys, delete

    def envelope(self, secret_id: str, reader_public_key: bytes, work_order_token: str) -> bytes:
        envelope = self.keys.envelope(secret_id, reader_public_key, work_order_token)
        self.delete()
        return envelope


def test_an_envelope_request_racing_the_deletion_leaves_no_envelope(
    endpoints: dict[str, Any],
    operator: Operator,
    controller: Any,
    repository: DynamoDrsRepository,
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(2000))
    endpoint = endpoints["aws_endpoint_url"]
    topics = {CONFIRMED: stack_topic_arn(endpoints, CONFIRMED)}
    deletion = DeletionHandler(
        repository=repository,
        storage=S3Storage(client("s3", endpoint)),
        publisher=SnsPublisher(topics, client("sns", endpoint)),
        outbox_bucket=outbox(endpoints),
    )
    request = FileDeletionRequested(file_id=f.file_id, requested_by="operator")
    confirmed: list[list[str]] = []
    downloads = controller(clock=lambda: datetime.now(UTC))
    downloads.keys = DeletedMeanwhile(
        downloads.keys, lambda: confirmed.append(deletion.on_deletion_requested(request).removed)
    )
    with pytest.raises(ObjectDeleted):
        reader = Reader(requester.user.public_key, "", "", requester.wot(f.file_id))
        downloads.envelope(f.file_id, reader)
    assert confirmed == [["outbox copy", "download record"]]
    assert _envelope_items(endpoints, f.file_id) == []
    _tombstone(endpoints, f.file_id)
    _assert_every_route_404(requester, f.file_id)


def test_deleting_an_unknown_id_twice_is_harmless(endpoints: dict[str, Any]) -> None:
    file_id = str(uuid.uuid4())
    stream = EventStream(endpoints, [CONFIRMED])
    try:
        _request_deletion(endpoints, file_id)
        _request_deletion(endpoints, file_id)
        assert [c["removed"] for c in _dcs_confirmations(stream, file_id, 2)] == [[], []]
    finally:
        stream.close()
