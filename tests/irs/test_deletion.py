"""IRS's part of a deletion over the stack's S3 and DynamoDB (moto server): in-process where
the test must deliver the request at a precise point of an interrogation
(tests/irs/inprocess.py), and through the stack's own queue, S3 notification and IRS for
the wiring (a deletion that overtakes the upload's events).

After each deletion the staging bucket holds neither the file's staged object nor an open
multipart upload for it, the record is a tombstone, and IRS confirmed the deletion.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions.irs.deletion import (
    PART_ITEMS,
    RECORD,
    STAGED_MANIFEST,
    STAGED_OBJECT,
    STAGING_UPLOAD,
    tombstone,
)
from functions.irs.model import DELETED, Interrogation, Upload
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.events import FileDeletionRequested
from shared.manifest import manifest_key
from shared.resources import queue_name
from tests.irs.helpers import PLAIN_PER_PART, declaration, put_multipart, random_bytes
from tests.irs.inprocess import FixedKeyStore, Harness
from tests.support import EventStream, publish_event, wait_until_drained

CONFIRMED = "FileDeletionConfirmed"
OUTCOMES = ("FileInterrogationSuccess", "FileInterrogationFailure")


class File:
    """One upload for the in-process IRS, with the secrets EKSS would give for it."""

    def __init__(self, harness: Harness, parts: float) -> None:
        self.plain = random_bytes(int(parts * PLAIN_PER_PART), seed=5)
        submitter_private, submitter_public = generate_keypair()
        session_key = os.urandom(32)
        self.data = c4gh.make_header(
            session_key, submitter_private, harness.archive_public
        ) + c4gh.encrypt_body(self.plain, session_key)
        self.keys = FixedKeyStore(session_key, os.urandom(32))
        self.upload = harness.upload(self.data, self.plain, submitter_public)


def request(upload: Upload) -> FileDeletionRequested:
    return FileDeletionRequested(file_id=upload.file_id, requested_by="operator", reason="test")


def confirmations(harness: Harness, upload: Upload) -> list[dict[str, Any]]:
    return [
        payload
        for kind, payload in harness.publisher.events
        if kind == CONFIRMED and payload["file_id"] == upload.file_id
    ]


def assert_tombstone(harness: Harness, upload: Upload) -> Interrogation:
    item = harness.record(upload)
    assert item.state == DELETED and item.deleted_by == "operator"
    assert item.upload is None and item.outcome is None
    assert item.hash_state is None and item.parts_staged == 0 and item.lease_owner is None
    assert harness.repository.parts(upload.object_id) == []  # no part items either
    return item


def assert_nothing_staged(harness: Harness, key: str | None) -> None:
    assert key is not None
    for prefix in (key, manifest_key(key)):  # the staged object and its manifest
        found = harness.s3.list_objects_v2(Bucket=harness.staging, Prefix=prefix)
        assert [entry["Key"] for entry in found.get("Contents", [])] == []
    uploads = harness.s3.list_multipart_uploads(Bucket=harness.staging).get("Uploads", [])
    assert [u["UploadId"] for u in uploads if u["Key"] == key] == []


def assert_late_events_ignored(harness: Harness, file: File) -> None:
    irs = harness.irs(file.keys)
    events = list(harness.publisher.events)
    harness.start(irs, file.upload, len(file.data))
    irs.resume(file.upload.object_id)
    assert harness.publisher.events == events and harness.queue.sent == []
    assert_tombstone(harness, file.upload)


def test_a_deletion_mid_stream_stops_the_invocation_and_empties_staging(harness: Harness) -> None:
    file = File(harness, 3.5)  # four staged parts
    staged: list[str | None] = []

    def delete_after_first_part(parts: int) -> None:
        if parts == 1:
            staged.append(harness.record(file.upload).staged_object_id)
            harness.deletion().file_deletion_requested(request(file.upload))

    irs = harness.irs(file.keys, after_part=delete_after_first_part)
    harness.start(irs, file.upload, len(file.data))

    [confirmation] = confirmations(harness, file.upload)
    assert confirmation["service"] == "irs" and confirmation["requested_by"] == "operator"
    assert confirmation["removed"] == [STAGING_UPLOAD, PART_ITEMS, RECORD]
    assert [kind for kind, _ in harness.publisher.events] == [CONFIRMED]
    assert assert_tombstone(harness, file.upload).staged_object_id == staged[0]
    assert_nothing_staged(harness, staged[0])
    assert_late_events_ignored(harness, file)


def test_an_invocation_that_finds_the_tombstone_aborts_what_it_staged(harness: Harness) -> None:
    """Only the tombstone is written mid-file (the deletion's removal is still to come): the
    invocation's next part reaches the open staging upload, its save fails, and it aborts
    that upload itself."""
    file = File(harness, 3.5)

    def bury_after_first_part(parts: int) -> None:
        if parts == 1:
            item = harness.record(file.upload)
            harness.repository.save(tombstone(item.object_key, item, "operator"))

    irs = harness.irs(file.keys, after_part=bury_after_first_part)
    harness.start(irs, file.upload, len(file.data))

    assert harness.publisher.events == []
    item = assert_tombstone(harness, file.upload)
    assert_nothing_staged(harness, item.staged_object_id)
    harness.deletion().file_deletion_requested(request(file.upload))
    assert [c["removed"] for c in confirmations(harness, file.upload)] == [[]]


def test_a_deletion_after_success_deletes_the_staged_object(harness: Harness) -> None:
    file = File(harness, 1.5)
    irs = harness.irs(file.keys)
    harness.start(irs, file.upload, len(file.data))
    kind, success = harness.outcome(file.upload)
    assert kind == "FileInterrogationSuccess"
    assert harness.staged(success)  # the object is there before the deletion

    deletion = harness.deletion()
    deletion.file_deletion_requested(request(file.upload))
    deletion.file_deletion_requested(request(file.upload))  # redelivered

    removed = [c["removed"] for c in confirmations(harness, file.upload)]
    assert removed == [[STAGED_OBJECT, STAGED_MANIFEST, RECORD], []]
    item = assert_tombstone(harness, file.upload)
    assert item.staged_object_id == success["staged_object_id"]
    assert_nothing_staged(harness, item.staged_object_id)
    assert_late_events_ignored(harness, file)


# ------------------------------------------------------------------ through the stack


@pytest.fixture
def deletion_events(endpoints: dict[str, Any]) -> Iterator[EventStream]:
    stream = EventStream(endpoints, (CONFIRMED, *OUTCOMES))
    try:
        yield stream
    finally:
        stream.close()


def irs_confirmation(stream: EventStream, file_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e.payload for e in stream.events(CONFIRMED, file_id)]
        mine = [p for p in found if p["service"] == "irs"]
        if mine:
            return mine[0]
        assert time.monotonic() < deadline, f"IRS did not confirm; seen {found}"
        stream.poll()


def test_a_deletion_through_the_queue_before_the_upload_refuses_the_upload(
    endpoints: dict[str, Any],
    s3: Any,
    buckets: dict[str, str],
    archive_public: bytes,
    interrogations: Callable[[str], Interrogation | None],
    deletion_events: EventStream,
) -> None:
    file_id = str(uuid.uuid4())
    payload = {"file_id": file_id, "requested_by": "operator", "reason": "overtakes"}
    publish_event(endpoints, "FileDeletionRequested", payload, key=file_id)
    confirmation = irs_confirmation(deletion_events, file_id)
    assert confirmation["removed"] == [] and confirmation["requested_by"] == "operator"
    item = interrogations(file_id)
    assert item is not None and item.state == DELETED

    # the upload's events come late: the notification and the declaration find the tombstone
    plain = random_bytes(PLAIN_PER_PART // 2, seed=3)
    submitter_private, submitter_public = generate_keypair()
    session_key = os.urandom(32)
    data = c4gh.make_header(session_key, submitter_private, archive_public) + c4gh.encrypt_body(
        plain, session_key
    )
    put_multipart(s3, buckets["inbox"], file_id, data)
    declared = declaration(
        file_id=file_id,
        box_id=str(uuid.uuid4()),
        bucket=buckets["inbox"],
        plain=plain,
        data=data,
        submitter_public=submitter_public,
    )
    publish_event(endpoints, "FileUploadReceived", declared, key=file_id)
    try:
        wait_until_drained(endpoints, queue_name("irs-inbox", endpoints["resource_prefix"]))
        deletion_events.settle()
        assert deletion_events.events("FileInterrogationSuccess", file_id) == []
        assert deletion_events.events("FileInterrogationFailure", file_id) == []
        item = interrogations(file_id)
        assert item is not None and item.state == DELETED and item.upload is None
        assert item.object_size is None and item.staged_object_id is None
    finally:
        s3.delete_object(Bucket=buckets["inbox"], Key=file_id)
