"""Registration: staging → permanent storage, once, whatever the event delivery does."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.errors import RegistrationError
from functions.ifrs.model import CopySettings, Registration
from functions.ifrs.store import DynamoFileRepository
from shared.adapters.s3 import S3Storage
from shared.events import FileInterrogationSuccess
from shared.manifest import manifest_key
from shared.resources import dlq_name, queue_name
from tests.fakes import RecordingPublisher, RecordingQueue
from tests.support import EventStream, aws, publish_event, queue_url, wait_until_drained

Staged = Callable[..., dict[str, Any]]


class Crash(BaseException):
    """A killed invocation: nothing in the handler may catch it."""


class CountingStorage(S3Storage):
    """The real S3 adapter, counting multipart copies opened."""

    def __init__(self, s3: Any) -> None:
        super().__init__(s3)
        self.copies = 0

    def create_multipart(self, bucket: str, key: str) -> str:
        self.copies += 1
        return super().create_multipart(bucket, key)


def _event(payload: dict[str, Any]) -> FileInterrogationSuccess:
    return FileInterrogationSuccess(**{k: v for k, v in payload.items() if k != "_content"})


def _exists(s3: Any, bucket: str, key: str) -> bool:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(entry["Key"] == key for entry in listed)


def _registry(
    s3: Any,
    buckets: dict[str, str],
    files: DynamoFileRepository,
    publisher: RecordingPublisher,
    **kwargs: Any,
) -> Registry:
    kwargs.setdefault("storage", CountingStorage(s3))
    kwargs.setdefault("copier", Copier(storage=kwargs["storage"], settings=CopySettings()))
    kwargs.setdefault("continuations", RecordingQueue())
    return Registry(
        publisher=publisher,
        repository=files,
        staging_bucket=buckets["staging"],
        permanent_bucket=buckets["permanent"],
        **kwargs,
    )


def test_duplicate_events_over_the_stack_copy_and_register_once(
    staged: Staged,
    events: EventStream,
    s3: Any,
    buckets: dict[str, str],
    registration: Callable[[str], Registration | None],
    endpoints: dict[str, Any],
) -> None:
    payload = staged()
    content = payload.pop("_content")
    file_id = payload["file_id"]
    publish_event(endpoints, "FileInterrogationSuccess", payload, file_id)
    publish_event(endpoints, "FileInterrogationSuccess", payload, file_id)
    registered = events.wait_for("FileInternallyRegistered", file_id, timeout=60)
    queue = queue_name("ifrs-events", endpoints["resource_prefix"])
    wait_until_drained(endpoints, queue)
    publish_event(endpoints, "FileInterrogationSuccess", payload, file_id)  # a late one
    wait_until_drained(endpoints, queue)
    events.settle()

    assert len(events.events("FileInternallyRegistered", file_id)) == 1
    where = registered.payload
    assert where["bucket"] == buckets["permanent"]
    staged_manifest = payload.pop("parts_manifest")
    assert {k: where[k] for k in payload} == payload
    stored = s3.get_object(Bucket=where["bucket"], Key=where["object_id"])["Body"].read()
    assert stored == content
    # the manifest beside the permanent object: the same bytes, so the same digest
    manifest = where["parts_manifest"]
    assert manifest == {
        **staged_manifest,
        "bucket": buckets["permanent"],
        "key": manifest_key(where["object_id"]),
    }
    body = s3.get_object(Bucket=buckets["permanent"], Key=manifest["key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == manifest["sha256"]
    assert not _exists(s3, buckets["staging"], payload["staged_object_id"])
    assert not _exists(s3, buckets["staging"], staged_manifest["key"])
    record = registration(file_id)
    assert record is not None and record.state == "registered"
    assert record.object_id == where["object_id"] and record.lease_owner is None
    dead = aws(endpoints, "sqs").receive_message(
        QueueUrl=queue_url(endpoints, dlq_name("ifrs-events", endpoints["resource_prefix"])),
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
    )
    assert not any(file_id in m["Body"] for m in dead.get("Messages", []))


def test_crash_between_copy_and_publish_resumes_without_a_second_copy(
    staged: Staged,
    s3: Any,
    buckets: dict[str, str],
    files: DynamoFileRepository,
) -> None:
    payload = staged()
    content = payload.pop("_content")
    publisher = RecordingPublisher()
    storage = CountingStorage(s3)

    def die(item: Registration) -> None:
        raise Crash("killed after the copy")

    with pytest.raises(Crash):
        _registry(s3, buckets, files, publisher, storage=storage, after_copy=die).register(
            _event(payload)
        )
    item = files.get(payload["file_id"])
    assert item is not None and item.state == "copying" and item.lease_owner is not None
    assert storage.copies == 1 and publisher.events == []

    # a duplicate while the (dead) invocation's lease lasts: left alone
    _registry(s3, buckets, files, publisher, storage=storage).register(_event(payload))
    assert storage.copies == 1 and publisher.events == []

    # the redelivery after the lease ran out finishes without copying again
    later = datetime.now(UTC) + timedelta(hours=1)
    _registry(s3, buckets, files, publisher, storage=storage, clock=lambda: later).register(
        _event(payload)
    )
    assert storage.copies == 1
    assert [kind for kind, _ in publisher.events] == ["FileInternallyRegistered"]
    assert publisher.events[0][1]["object_id"] == item.object_id
    stored = s3.get_object(Bucket=buckets["permanent"], Key=item.object_id)["Body"].read()
    assert stored == content
    assert not _exists(s3, buckets["staging"], payload["staged_object_id"])
    final = files.get(payload["file_id"])
    assert final is not None and final.state == "registered" and final.registered is not None


def test_missing_staged_object_is_not_registered(
    staged: Staged, s3: Any, buckets: dict[str, str], files: DynamoFileRepository
) -> None:
    payload = staged()
    payload.pop("_content")
    s3.delete_object(Bucket=buckets["staging"], Key=payload["staged_object_id"])
    publisher = RecordingPublisher()
    with pytest.raises(RegistrationError, match="staged object is missing"):
        _registry(s3, buckets, files, publisher).register(_event(payload))
    item = files.get(payload["file_id"])
    assert item is not None and item.state == "copying" and item.lease_owner is None
    assert publisher.events == []
    assert not _exists(s3, buckets["permanent"], item.object_id)


def test_staged_object_of_another_size_is_not_registered(
    staged: Staged, s3: Any, buckets: dict[str, str], files: DynamoFileRepository
) -> None:
    payload = staged(size=1000)
    payload.pop("_content")
    payload["encrypted_size"] = 1001
    publisher = RecordingPublisher()
    storage = CountingStorage(s3)
    with pytest.raises(RegistrationError, match="has 1000 bytes"):
        _registry(s3, buckets, files, publisher, storage=storage).register(_event(payload))
    assert storage.copies == 0 and publisher.events == []
    assert _exists(s3, buckets["staging"], payload["staged_object_id"])


def test_event_naming_another_staging_bucket_is_refused(
    staged: Staged, s3: Any, buckets: dict[str, str], files: DynamoFileRepository
) -> None:
    payload = staged()
    payload.pop("_content")
    payload["staging_bucket"] = buckets["permanent"]
    with pytest.raises(RegistrationError, match="unknown bucket"):
        _registry(s3, buckets, files, RecordingPublisher()).register(_event(payload))
    assert files.get(payload["file_id"]) is None
