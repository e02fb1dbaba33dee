"""The resumable multipart copy over the real stack (moto server): a copy killed after a
batch and resumed from its checkpoint, a hand-on that the stack's own IFRS finishes, an
outbox copy whose checkpoint lives in the copies table, a deletion during a copy.

Parts are S3's minimum (5 MiB; moto refuses smaller ones at completion), two in flight, so
an object of 21 MiB is five copy parts in three batches. The cores run in this process on
the real adapters, except where the stack's IFRS is the one that carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.deletion import FileDeletion
from functions.ifrs.model import CopySettings, Registration
from functions.ifrs.staging import Stager
from functions.ifrs.store import DynamoCopyRepository, DynamoFileRepository
from shared.adapters.s3 import S3Storage
from shared.adapters.sqs import SqsMessageSender
from shared.events import (
    FileDeletionRequested,
    FileInterrogationSuccess,
    NonStagedFileRequested,
    parse_message,
)
from shared.manifest import manifest_key
from shared.multipart import MIN_PART_SIZE
from shared.resources import dlq_name, queue_name, table_name
from tests.fakes import RecordingPublisher, RecordingQueue
from tests.support import EventStream, aws, queue_url

Staged = Callable[..., dict[str, Any]]
SIZE = 4 * MIN_PART_SIZE + 1000  # five copy parts
PARTS = 5
LATER = datetime.now(UTC) + timedelta(hours=1)


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


class PartCounting(S3Storage):
    """The real S3 adapter, noting every part copied (bucket, part number)."""

    def __init__(self, s3: Any) -> None:
        super().__init__(s3)
        self.parts: list[tuple[str, int]] = []

    def upload_part_copy(self, *args: Any) -> str:
        self.parts.append((args[2], args[5]))
        return super().upload_part_copy(*args)

    def copied(self, bucket: str) -> list[int]:
        return sorted(n for b, n in self.parts if b == bucket)


def _copier(
    storage: S3Storage, after_batch: Callable[[int], None] | None = None, **changes: Any
) -> Copier:
    settings = {"part_floor": MIN_PART_SIZE, "parts_in_flight": 2, **changes}
    return Copier(storage=storage, settings=CopySettings(**settings), after_batch=after_batch)


def _event(payload: dict[str, Any]) -> FileInterrogationSuccess:
    return FileInterrogationSuccess(**{k: v for k, v in payload.items() if k != "_content"})


def _open_uploads(s3: Any, bucket: str, key: str) -> list[str]:
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return [u["UploadId"] for u in listed if u["Key"] == key]


def _body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(s3: Any, buckets: dict[str, str], keys: set[str]) -> list[str]:
    """Every object and open multipart upload of these keys in staging, permanent, outbox."""
    found = []
    for name, bucket in buckets.items():
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        found += [f"{e['Key']} in {name}" for e in listed if e["Key"] in keys]
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        found += [f"open upload {u['Key']} in {name}" for u in uploads if u["Key"] in keys]
    return found


@pytest.fixture
def world(
    s3: Any, buckets: dict[str, str], files: DynamoFileRepository, copies: DynamoCopyRepository
) -> Iterator[dict[str, Any]]:
    storage = PartCounting(s3)
    yield {
        "storage": storage,
        "publisher": RecordingPublisher(),
        "queue": RecordingQueue(),
        "files": files,
        "copies": copies,
    }


def _registry(world: dict[str, Any], buckets: dict[str, str], **kwargs: Any) -> Registry:
    kwargs.setdefault("copier", _copier(world["storage"]))
    kwargs.setdefault("continuations", world["queue"])
    return Registry(
        storage=world["storage"],
        publisher=world["publisher"],
        repository=world["files"],
        staging_bucket=buckets["staging"],
        permanent_bucket=buckets["permanent"],
        **kwargs,
    )


def _stager(world: dict[str, Any], buckets: dict[str, str], copier: Copier) -> Stager:
    return Stager(
        storage=world["storage"],
        publisher=world["publisher"],
        repository=world["files"],
        copies=world["copies"],
        outbox_bucket=buckets["outbox"],
        copier=copier,
        continuations=world["queue"],
    )


def _deletion(world: dict[str, Any], buckets: dict[str, str]) -> FileDeletion:
    return FileDeletion(
        storage=world["storage"],
        publisher=world["publisher"],
        repository=world["files"],
        copies=world["copies"],
        staging_bucket=buckets["staging"],
        permanent_bucket=buckets["permanent"],
        outbox_bucket=buckets["outbox"],
    )


def test_a_copy_killed_after_a_batch_resumes_from_its_checkpoint_over_the_stack(
    staged: Staged, s3: Any, buckets: dict[str, str], world: dict[str, Any]
) -> None:
    payload = staged(size=SIZE)
    content = payload.pop("_content")
    storage: PartCounting = world["storage"]

    def kill_after_second_batch(parts_done: int) -> None:
        if parts_done == 4:
            raise Crash

    killed = _copier(storage, after_batch=kill_after_second_batch)
    with pytest.raises(Crash):
        _registry(world, buckets, copier=killed).register(_event(payload))
    item: Registration | None = world["files"].get(payload["file_id"])
    assert item is not None and item.object_id is not None
    assert item.copy_parts_done == 4 and item.copy_part_size == MIN_PART_SIZE
    # the one open upload is the recorded one: nothing unrecorded is ever open
    assert _open_uploads(s3, buckets["permanent"], item.object_id) == [item.copy_upload_id]

    _registry(world, buckets, clock=lambda: LATER).register(_event(payload))
    assert storage.copied(buckets["permanent"]) == [1, 2, 3, 4, 5]  # 1-4 only once
    final = world["files"].get(payload["file_id"])
    assert final is not None and final.state == "registered" and final.copy_upload_id is None
    head = s3.head_object(Bucket=buckets["permanent"], Key=item.object_id)
    assert head["ETag"].strip('"').endswith(f"-{PARTS}")
    assert _body(s3, buckets["permanent"], item.object_id) == content
    assert _open_uploads(s3, buckets["permanent"], item.object_id) == []
    [registered] = world["publisher"].of("FileInternallyRegistered")
    assert registered["parts_manifest"]["key"] == manifest_key(item.object_id)
    staged_keys = {payload["staged_object_id"], manifest_key(payload["staged_object_id"])}
    assert _keys(s3, {"staging": buckets["staging"]}, staged_keys) == []


def test_a_hand_on_is_taken_up_by_the_stacks_own_ifrs_from_the_checkpoint(
    staged: Staged,
    s3: Any,
    buckets: dict[str, str],
    world: dict[str, Any],
    events: EventStream,
    endpoints: dict[str, Any],
) -> None:
    """This process copies one batch and hands on to the stack's queue; the stack's IFRS
    (its own policy: 64 MiB parts, 16 in flight) copies on with the recorded 5 MiB parts."""
    payload = staged(size=SIZE)
    content = payload.pop("_content")
    file_id = payload["file_id"]
    queue = queue_name("ifrs-events", endpoints["resource_prefix"])
    sender = SqsMessageSender(queue, aws(endpoints, "sqs"))
    copier = _copier(world["storage"], max_parts_per_invocation=2)
    _registry(world, buckets, copier=copier, continuations=sender).register(_event(payload))
    item = world["files"].get(file_id)
    assert item is not None and item.state in ("copying", "registered")
    assert world["storage"].copied(buckets["permanent"]) == [1, 2]
    assert world["publisher"].events == []

    registered = events.wait_for("FileInternallyRegistered", file_id, timeout=60).payload
    assert registered["object_id"] == item.object_id
    head = s3.head_object(Bucket=buckets["permanent"], Key=item.object_id)
    assert head["ETag"].strip('"').endswith(f"-{PARTS}")  # resumed, not started again
    assert _body(s3, buckets["permanent"], item.object_id) == content
    assert _open_uploads(s3, buckets["permanent"], item.object_id) == []
    events.settle()
    assert len(events.events("FileInternallyRegistered", file_id)) == 1
    dead = aws(endpoints, "sqs").receive_message(
        QueueUrl=queue_url(endpoints, dlq_name("ifrs-events", endpoints["resource_prefix"])),
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
    )
    assert not any(file_id in m["Body"] for m in dead.get("Messages", []))


def test_an_outbox_copy_keeps_its_checkpoint_in_the_copies_table_until_reported(
    staged: Staged,
    s3: Any,
    buckets: dict[str, str],
    world: dict[str, Any],
    endpoints: dict[str, Any],
) -> None:
    payload = staged(size=SIZE)
    content = payload.pop("_content")
    _registry(world, buckets).register(_event(payload))
    item = world["files"].get(payload["file_id"])
    assert item is not None and item.state == "registered" and item.object_id is not None
    request = NonStagedFileRequested(
        file_id=payload["file_id"],
        target_object_id=item.object_id,
        target_bucket=buckets["outbox"],
        decrypted_sha256=payload["decrypted_sha256"],
    )
    stager = _stager(world, buckets, _copier(world["storage"], max_parts_per_invocation=2))
    dynamodb = aws(endpoints, "dynamodb")
    table = table_name("copies", endpoints["resource_prefix"])

    def record() -> dict[str, Any] | None:
        key = {"target_object_id": {"S": item.object_id}}
        return dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    answers = []
    pending = [request]
    while pending:
        answers.append(stager.stage(pending.pop()))
        sent = [parse_message(body).parsed() for body in world["queue"].sent]
        world["queue"].sent.clear()
        assert sent in ([], [request])
        pending += sent  # type: ignore[arg-type]
        if sent:
            found = record()
            assert found is not None and "lease_owner" not in found
            assert found["file_id"] == {"S": payload["file_id"]}
            assert int(found["copy_parts_done"]["N"]) == 2 * len(answers)
            assert set(found) <= {  # nothing per part
                "target_object_id",
                "version",
                "file_id",
                "copy_upload_id",
                "copy_part_size",
                "copy_parts_done",
                "updated",
            }
    assert answers == [False, False, True]
    assert world["storage"].copied(buckets["outbox"]) == [1, 2, 3, 4, 5]
    assert record() is None
    assert _body(s3, buckets["outbox"], item.object_id) == content
    assert _open_uploads(s3, buckets["outbox"], item.object_id) == []
    assert [kind for kind, _ in world["publisher"].events] == [
        "FileInternallyRegistered",
        "FileStagedForDownload",
    ]


@pytest.mark.parametrize("copy", ["registration", "outbox"])
def test_a_deletion_during_a_copy_leaves_nothing_over_the_stack(
    copy: str,
    staged: Staged,
    s3: Any,
    buckets: dict[str, str],
    world: dict[str, Any],
    endpoints: dict[str, Any],
) -> None:
    payload = staged(size=SIZE)
    payload.pop("_content")
    file_id = payload["file_id"]
    request = FileDeletionRequested(file_id=file_id, requested_by="operator")

    def delete_after_first_batch(parts_done: int) -> None:
        if parts_done == 2:
            _deletion(world, buckets).on_requested(request)

    copier = _copier(world["storage"], after_batch=delete_after_first_batch)
    if copy == "registration":
        _registry(world, buckets, copier=copier).register(_event(payload))
        assert world["storage"].copied(buckets["permanent"]) == [1, 2, 3, 4]
    else:
        _registry(world, buckets).register(_event(payload))
        item = world["files"].get(file_id)
        assert item is not None and item.object_id is not None
        staging = NonStagedFileRequested(
            file_id=file_id,
            target_object_id=item.object_id,
            target_bucket=buckets["outbox"],
            decrypted_sha256=payload["decrypted_sha256"],
        )
        assert _stager(world, buckets, copier).stage(staging) is False
        assert world["storage"].copied(buckets["outbox"]) == [1, 2, 3, 4]

    kinds = [kind for kind, _ in world["publisher"].events]
    assert "FileStagedForDownload" not in kinds
    assert kinds.count("FileInternallyRegistered") == (copy == "outbox")
    [confirmed] = world["publisher"].of("FileDeletionConfirmed")
    assert any(what.startswith("open multipart") for what in confirmed["removed"])
    tombstone = world["files"].get(file_id)
    assert tombstone is not None and tombstone.is_tombstone and tombstone.object_id
    keys = {tombstone.object_id, payload["staged_object_id"]}
    keys |= {manifest_key(key) for key in keys}
    assert _keys(s3, buckets, keys) == []
    assert world["copies"].get(tombstone.object_id) is None
