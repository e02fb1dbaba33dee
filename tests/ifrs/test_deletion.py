"""IFRS's part of a purge over the real stack: the stack's own IFRS registers, stages and
deletes; what is left is read straight from S3 and DynamoDB, never through IFRS."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.model import CopySettings
from functions.ifrs.store import DynamoCopyRepository, DynamoFileRepository
from shared.adapters.s3 import S3Storage
from shared.events import FileDeletionRequested, FileInterrogationSuccess
from shared.manifest import manifest_key
from shared.resources import queue_name, table_name
from tests.fakes import RecordingPublisher, RecordingQueue
from tests.support import EventStream, aws, consumers_paused, publish_event, wait_until_drained

Staged = Callable[..., dict[str, Any]]
EVENTS = ("FileInternallyRegistered", "FileStagedForDownload", "FileDeletionConfirmed")
# what the tombstone must not keep (docs/deletion.md: no content, no key, no checksum)
SENSITIVE = {
    "secret_id",
    "decrypted_sha256",
    "decrypted_size",
    "encrypted_size",
    "encrypted_part_size",
    "interrogation",
}


@pytest.fixture
def stream(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    events = EventStream(endpoints, EVENTS)
    try:
        yield events
    finally:
        events.close()


@pytest.fixture
def dcs_paused(endpoints: dict[str, Any]) -> Iterator[None]:
    """DCS removes its outbox copy on the same request: paused, so that what IFRS says it
    removed does not depend on who came first. Its waiting messages are dropped at the end."""
    with consumers_paused(endpoints, "dcs", drop=True):
        yield


def _ifrs_confirmations(
    stream: EventStream, file_id: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """IFRS's FileDeletionConfirmed payloads for the file (the other holders confirm too)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            event.payload
            for event in stream.events("FileDeletionConfirmed", file_id)
            if event.payload["service"] == "ifrs"
        ]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} confirmations by ifrs")
        stream.poll()


def _left(s3: Any, buckets: dict[str, str], keys: set[str]) -> list[str]:
    """Every object and open multipart upload of these keys in staging, permanent, outbox."""
    found = []
    for key, bucket in buckets.items():
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        found += [f"{entry['Key']} in {key}" for entry in listed if entry["Key"] in keys]
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        found += [f"open upload {u['Key']} in {key}" for u in uploads if u["Key"] in keys]
    return found


def _item(endpoints: dict[str, Any], file_id: str) -> dict[str, Any]:
    found = aws(endpoints, "dynamodb").get_item(
        TableName=table_name("files", endpoints["resource_prefix"]),
        Key={"file_id": {"S": file_id}},
        ConsistentRead=True,
    )
    return found["Item"]


def _assert_tombstone(endpoints: dict[str, Any], file_id: str) -> dict[str, Any]:
    item = _item(endpoints, file_id)
    assert item["state"] == {"S": "deleted"}
    assert item["deleted_by"] == {"S": "operator"} and "deleted" in item
    kept = sorted(name for name in SENSITIVE & set(item) if "NULL" not in item[name])
    assert kept == []
    return item


def _event(payload: dict[str, Any]) -> FileInterrogationSuccess:
    return FileInterrogationSuccess(**{k: v for k, v in payload.items() if k != "_content"})


def test_deletion_after_registration_and_staging_leaves_nothing_and_refuses_late_success(
    staged: Staged,
    stream: EventStream,
    s3: Any,
    buckets: dict[str, str],
    endpoints: dict[str, Any],
    dcs_paused: None,
) -> None:
    payload = staged()
    payload.pop("_content")
    file_id = payload["file_id"]
    publish_event(endpoints, "FileInterrogationSuccess", payload, file_id)
    object_id = stream.wait_for("FileInternallyRegistered", file_id, timeout=60).payload[
        "object_id"
    ]
    request = {
        "file_id": file_id,
        "target_object_id": object_id,  # as DCS asks: under the permanent object's id
        "target_bucket": buckets["outbox"],
        "decrypted_sha256": payload["decrypted_sha256"],
    }
    publish_event(endpoints, "NonStagedFileRequested", request, file_id)
    stream.wait_for("FileStagedForDownload", file_id, timeout=60)
    assert s3.head_object(Bucket=buckets["outbox"], Key=object_id)["ContentLength"] > 0

    deletion = {"file_id": file_id, "requested_by": "operator", "reason": "consent withdrawn"}
    publish_event(endpoints, "FileDeletionRequested", deletion, file_id)
    [confirmed] = _ifrs_confirmations(stream, file_id, 1)
    assert confirmed == {
        "file_id": file_id,
        "service": "ifrs",
        "requested_by": "operator",
        "removed": ["permanent object", "permanent manifest", "outbox copy", "registration record"],
    }
    keys = {object_id, payload["staged_object_id"]}
    keys |= {manifest_key(key) for key in keys}
    assert _left(s3, buckets, keys) == []
    tombstone = _assert_tombstone(endpoints, file_id)
    assert tombstone["object_id"] == {"S": object_id}

    # a late success (the file interrogated again under the same id): refused, its object gone
    late = staged(file_id=file_id)
    late.pop("_content")
    publish_event(endpoints, "FileInterrogationSuccess", late, file_id)
    # and the request again: removes what is left (nothing) and confirms again
    publish_event(endpoints, "FileDeletionRequested", deletion, file_id)
    again = _ifrs_confirmations(stream, file_id, 2)[1]
    assert again["removed"] == []
    wait_until_drained(endpoints, queue_name("ifrs-events", endpoints["resource_prefix"]))
    stream.settle()
    assert len(stream.events("FileInternallyRegistered", file_id)) == 1
    late_keys = {late["staged_object_id"], manifest_key(late["staged_object_id"])}
    assert _left(s3, buckets, keys | late_keys) == []
    assert _assert_tombstone(endpoints, file_id)["version"] == tombstone["version"]


def test_a_deletion_before_the_success_is_a_tombstone_in_the_real_table(
    staged: Staged,
    s3: Any,
    buckets: dict[str, str],
    files: DynamoFileRepository,
    copies: DynamoCopyRepository,
    endpoints: Any,
) -> None:
    """The tombstone without any interrogation fact, on DynamoDB itself, refuses the success
    that was overtaken (the cores on the real adapters, in this process)."""
    payload = staged()
    payload.pop("_content")
    storage, publisher = S3Storage(s3), RecordingPublisher()
    deletion = FileDeletion(
        storage=storage,
        publisher=publisher,
        repository=files,
        copies=copies,
        staging_bucket=buckets["staging"],
        permanent_bucket=buckets["permanent"],
        outbox_bucket=buckets["outbox"],
    )
    request = FileDeletionRequested(file_id=payload["file_id"], requested_by="operator")
    deletion.on_requested(request)
    tombstone = _assert_tombstone(endpoints, payload["file_id"])
    assert "object_id" not in tombstone or "NULL" in tombstone["object_id"]

    registry = Registry(
        storage=storage,
        publisher=publisher,
        repository=files,
        staging_bucket=buckets["staging"],
        permanent_bucket=buckets["permanent"],
        copier=Copier(storage=storage, settings=CopySettings()),
        continuations=RecordingQueue(),
    )
    registry.register(_event(payload))
    assert [kind for kind, _ in publisher.events] == ["FileDeletionConfirmed"]
    assert publisher.events[0][1]["removed"] == []
    staged_id = payload["staged_object_id"]
    assert _left(s3, buckets, {staged_id, manifest_key(staged_id)}) == []
    record = files.get(payload["file_id"])
    assert record is not None and record.state == "deleted" and record.interrogation is None
