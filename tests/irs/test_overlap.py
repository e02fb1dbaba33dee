"""The staging pipeline: part N uploads while part N+1 is built, yet every checkpoint says
exactly "parts 1..N are staged", failures come out as the one-part-at-a-time loop had them,
and nothing is left uploading when an invocation ends. In-process over the stack's S3,
DynamoDB and EKSS (tests/irs/inprocess.py); staging faults are injected into the real S3
adapter.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

import hvac
import pytest

from functions.irs.errors import StagedPartMismatch
from functions.irs.model import Upload
from shared.adapters.s3 import S3Storage
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.crypt.resumable_sha256 import ResumableSha256
from tests.irs.helpers import PART_SIZE, PLAIN_PER_PART, random_bytes, secret_exists
from tests.irs.inprocess import Harness, InProcessEkss

SEG = c4gh.CIPHER_SEGMENT_SIZE


class StagingRefused(Exception):
    """What a failing staging bucket raises (retried by the queue, never blamed on the file)."""


class FaultyStorage(S3Storage):
    """The real S3 adapter, with a log of staging calls in the order they happened; it
    refuses part ``refuse`` (before S3 sees it), sends part ``garble`` with one byte
    flipped (as if it were damaged on the way), and takes ``slow`` seconds longer for part
    ``slow_part``, so that the part behind it is certainly built while it is in flight."""

    def __init__(
        self,
        s3: Any,
        *,
        refuse: int = 0,
        garble: int = 0,
        slow_part: int = 0,
        slow: float = 0.0,
    ) -> None:
        super().__init__(s3)
        self.refuse, self.garble, self.slow_part, self.slow = refuse, garble, slow_part, slow
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def _log(self, *call: Any) -> None:
        with self._lock:
            self.calls.append(call)

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: Any) -> str:
        self._log("upload", number)
        if number == self.refuse:
            raise StagingRefused(f"staging refused part {number}")
        if number == self.slow_part:
            time.sleep(self.slow)
        if number == self.garble:
            data = bytearray(data)
            data[len(data) // 2] ^= 0x01
        etag = super().upload_part(bucket, key, upload_id, number, data)
        self._log("uploaded", number)
        return etag

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self._log("abort")
        super().abort_multipart(bucket, key, upload_id)


def _file(harness: Harness, plain: bytes, flip: int | None = None) -> tuple[bytes, Upload]:
    """An inbox object for ``plain`` (one byte of the body flipped at ``flip``)."""
    submitter_private, submitter_public = generate_keypair()
    session = os.urandom(32)
    header = c4gh.make_header(session, submitter_private, harness.archive_public)
    body = bytearray(c4gh.encrypt_body(plain, session))
    if flip is not None:
        body[flip] ^= 0x10
    data = header + bytes(body)
    return data, harness.upload(data, plain, submitter_public)


def _checkpoints(harness: Harness, upload: Upload, plain: bytes, seen: list[int]) -> Any:
    """An after_part hook: the saved record must describe exactly parts 1..N."""

    def check(parts: int) -> None:
        item = harness.record(upload)
        covered = plain[: parts * PLAIN_PER_PART]
        assert item.parts_staged == parts and item.plain_size == len(covered)
        # every part the checkpoint counts has its item, and no part beyond it
        stored = harness.repository.parts(upload.object_id)
        assert [part.number for part in stored] == list(range(1, parts + 1))
        assert item.hash_state is not None
        resumed = ResumableSha256.from_state(item.hash_state)
        assert resumed.hexdigest() == hashlib.sha256(covered).hexdigest()
        seen.append(parts)

    return check


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("irs-")]


def _listed_parts(harness: Harness, upload: Upload) -> list[dict[str, Any]]:
    item = harness.record(upload)
    return harness.s3.list_parts(
        Bucket=harness.staging, Key=item.staged_object_id, UploadId=item.staging_upload_id
    ).get("Parts", [])


def test_a_refused_upload_keeps_exactly_the_checkpoints_before_it(
    harness: Harness, ekss: InProcessEkss
) -> None:
    plain = random_bytes(3 * PLAIN_PER_PART + 777, seed=21)  # four staged parts
    data, upload = _file(harness, plain)
    storage = FaultyStorage(harness.s3, refuse=3)
    first: list[int] = []
    failing = harness.irs(
        ekss, storage=storage, after_part=_checkpoints(harness, upload, plain, first)
    )
    with pytest.raises(StagingRefused):
        harness.start(failing, upload, len(data))
    assert _pipeline_threads() == []  # nothing reads, builds or uploads any more

    # part 4 was built while part 3 was uploading; neither is in the checkpoint, and no
    # upload started after the refusal
    assert first == [1, 2]
    assert storage.calls == [
        ("upload", 1),
        ("uploaded", 1),
        ("upload", 2),
        ("uploaded", 2),
        ("upload", 3),
    ]
    item = harness.record(upload)
    assert item.state == "running" and item.lease_owner is None  # free for the retry
    assert item.parts_staged == 2 and item.plain_size == 2 * PLAIN_PER_PART
    listed = _listed_parts(harness, upload)
    assert [p["PartNumber"] for p in listed] == [1, 2]
    stored = harness.repository.parts(upload.object_id)
    assert [p["ETag"].strip('"') for p in listed] == [part.md5 for part in stored]
    assert harness.publisher.events == [] and harness.queue.sent == []

    # the queue's retry carries on from part 3
    second: list[int] = []
    harness.irs(ekss, after_part=_checkpoints(harness, upload, plain, second)).resume(
        upload.object_id
    )
    assert second == [3, 4]
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["decrypted_sha256"] == hashlib.sha256(plain).hexdigest()
    staged = harness.staged(payload)
    pieces = [staged[i : i + PART_SIZE] for i in range(0, len(staged), PART_SIZE)]
    manifest = harness.manifest(payload)
    assert manifest.md5 == [hashlib.md5(p, usedforsecurity=False).hexdigest() for p in pieces]
    assert manifest.sha256 == [hashlib.sha256(p).hexdigest() for p in pieces]
    assert manifest.md5[:2] == [part.md5 for part in stored]
    assert harness.repository.parts(upload.object_id) == []  # the manifest holds them now
    assert c4gh.decrypt_body(staged, [ekss.stored_secret(item.secret_id or "")]) == plain


def test_a_part_that_s3_received_damaged_is_not_checkpointed_and_staged_again(
    harness: Harness, ekss: InProcessEkss
) -> None:
    """S3's ETag of a staged part must be the MD5 of what IRS sent; if not, the part is an
    archive fault: no checkpoint, and the retry stages it again, right this time."""
    plain = random_bytes(2 * PLAIN_PER_PART + 99, seed=33)  # three staged parts
    data, upload = _file(harness, plain)
    first: list[int] = []
    failing = harness.irs(
        ekss,
        storage=FaultyStorage(harness.s3, garble=2),
        after_part=_checkpoints(harness, upload, plain, first),
    )
    with pytest.raises(StagedPartMismatch, match="staged part 2"):
        harness.start(failing, upload, len(data))
    assert first == [1] and harness.record(upload).parts_staged == 1
    assert harness.publisher.events == []

    second: list[int] = []
    harness.irs(ekss, after_part=_checkpoints(harness, upload, plain, second)).resume(
        upload.object_id
    )
    assert second == [2, 3]
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    staged = harness.staged(payload)
    pieces = [staged[i : i + PART_SIZE] for i in range(0, len(staged), PART_SIZE)]
    assert harness.manifest(payload).md5 == [
        hashlib.md5(p, usedforsecurity=False).hexdigest() for p in pieces
    ]
    item = harness.record(upload)
    assert c4gh.decrypt_body(staged, [ekss.stored_secret(item.secret_id or "")]) == plain


def test_damage_behind_an_upload_in_flight_is_rejected_once_that_upload_ended(
    harness: Harness, ekss: InProcessEkss, vault: hvac.Client
) -> None:
    plain = random_bytes(2 * PLAIN_PER_PART + c4gh.SEGMENT_SIZE + 500, seed=22)  # three parts
    flip = 2 * PART_SIZE + SEG + 10  # in the second segment of part 3: body segment 162
    data, upload = _file(harness, plain, flip=flip)
    storage = FaultyStorage(harness.s3, slow_part=2, slow=0.5)
    seen: list[int] = []
    irs = harness.irs(ekss, storage=storage, after_part=_checkpoints(harness, upload, plain, seen))
    harness.start(irs, upload, len(data))
    assert _pipeline_threads() == []

    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationFailure"
    assert payload["reason"] == (
        "The encrypted file is damaged: segment 162 failed authentication."
    )
    # part 2 was uploading while part 3 failed: its upload ended and its checkpoint was
    # written before the rejection went on; the staging upload was aborted only then
    assert seen == [1, 2]
    assert storage.calls == [
        ("upload", 1),
        ("uploaded", 1),
        ("upload", 2),
        ("uploaded", 2),
        ("abort",),
    ]
    item = harness.record(upload)
    assert item.state == "failed" and item.parts_staged == 2
    assert harness.repository.parts(upload.object_id) == []  # a failure leaves no items
    assert item.hash_state is None
    uploads = harness.s3.list_multipart_uploads(Bucket=harness.staging).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == item.staged_object_id] == []
    # IRS deletes no secret: EKSS forgets it when the failure (recorded here) reaches it
    assert item.secret_id and secret_exists(vault, item.secret_id)
    assert payload["file_id"] == upload.file_id


def test_hand_on_waits_for_the_upload_in_flight_and_stages_no_part_twice(
    harness: Harness, ekss: InProcessEkss
) -> None:
    plain = random_bytes(4 * PLAIN_PER_PART + 1, seed=23)  # five staged parts
    data, upload = _file(harness, plain)
    storage = FaultyStorage(harness.s3)
    seen: list[int] = []
    irs = harness.irs(
        ekss,
        max_parts=2,
        storage=storage,
        after_part=_checkpoints(harness, upload, plain, seen),
    )
    harness.start(irs, upload, len(data))
    # the first invocation handed on with both of its parts checkpointed, nothing beyond
    assert len(harness.queue.sent) == 1 and seen == [1, 2]
    item = harness.record(upload)
    assert item.parts_staged == 2 and item.lease_owner is None
    assert [p["PartNumber"] for p in _listed_parts(harness, upload)] == [1, 2]

    assert harness.drain(irs) == 2  # parts 3-4, then part 5
    assert seen == [1, 2, 3, 4, 5]
    uploaded = [call[1] for call in storage.calls if call[0] == "uploaded"]
    assert uploaded == [1, 2, 3, 4, 5]
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["decrypted_sha256"] == hashlib.sha256(plain).hexdigest()
    assert c4gh.decrypt_body(
        harness.staged(payload), [ekss.stored_secret(item.secret_id or "")]
    ) == (plain)
