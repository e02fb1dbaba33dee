"""Pure pieces of IRS: resumable hashing, the re-encryption transform, wrapping, messages."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from functions.irs.model import (
    LEASE_SLACK_S,
    MIN_PART_SIZE,
    Invocation,
    Settings,
    Upload,
    staging_part_size,
)
from functions.irs.wire import Continuation, ObjectCreated, continuation_body, parse
from shared.crypt import c4gh
from shared.crypt.checksums import part_digests as digests
from shared.crypt.reencrypt import Reencryptor, SegmentDamaged, segment_nonce
from shared.crypt.resumable_sha256 import InvalidHashState, ResumableSha256
from shared.events import Envelope
from shared.multipart import part_count
from shared.ports import FileSecrets

SEG = c4gh.CIPHER_SEGMENT_SIZE


# ---------------------------------------------------------------- resumable SHA-256


@pytest.mark.parametrize("split", [0, 1, 63, 64, 65, 65536, 100_001])
def test_resumable_sha256_equals_hashlib_across_a_saved_state(split: int) -> None:
    data = os.urandom(200_003)
    first = ResumableSha256()
    first.update(data[:split])
    resumed = ResumableSha256.from_state(first.state())
    resumed.update(memoryview(data)[split:150_000])
    resumed.update(bytearray(data[150_000:]))
    assert resumed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert first.hexdigest() == hashlib.sha256(data[:split]).hexdigest()


def test_digest_does_not_end_the_hash() -> None:
    hasher = ResumableSha256()
    hasher.update(b"abc")
    assert hasher.digest() == hashlib.sha256(b"abc").digest()
    hasher.update(b"def")
    assert hasher.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


@pytest.mark.parametrize("state", [b"", b"x" * 113, b"\x02" + b"\x00" * 112])
def test_foreign_state_is_refused(state: bytes) -> None:
    with pytest.raises(InvalidHashState):
        ResumableSha256.from_state(state)


# ---------------------------------------------------------------- re-encryption


def _body(plain: bytes, key: bytes) -> bytes:
    return c4gh.encrypt_body(plain, key)


def test_reencrypted_part_decrypts_to_the_plaintext_and_is_deterministic() -> None:
    submitter, new = os.urandom(32), os.urandom(32)
    plain = os.urandom(3 * c4gh.SEGMENT_SIZE + 777)
    body = _body(plain, submitter)
    hasher = ResumableSha256()
    chunk = Reencryptor(submitter, new).part(body, 0, hasher)
    assert len(chunk.data) == len(body)
    assert c4gh.decrypt_body(bytes(chunk.data), [new]) == plain
    assert chunk.plain_size == len(plain)
    assert hasher.hexdigest() == hashlib.sha256(plain).hexdigest()
    assert digests(chunk.data) == (
        hashlib.md5(chunk.data, usedforsecurity=False).hexdigest(),
        hashlib.sha256(chunk.data).hexdigest(),
    )
    again = Reencryptor(submitter, new).part(body, 0, ResumableSha256())
    assert again.data == chunk.data
    # nonces depend on the segment's place in the file and differ between segments
    assert chunk.data[:12] == segment_nonce(new, 0)
    assert chunk.data[SEG : SEG + 12] == segment_nonce(new, 1)
    assert segment_nonce(new, 0) != segment_nonce(new, 1)
    shifted = Reencryptor(submitter, new).part(body[:SEG], 5, ResumableSha256())
    assert shifted.data[:12] == segment_nonce(new, 5)


def test_parts_chain_into_the_one_pass_result() -> None:
    submitter, new = os.urandom(32), os.urandom(32)
    plain = os.urandom(5 * c4gh.SEGMENT_SIZE + 5)
    body = _body(plain, submitter)
    one_pass = Reencryptor(submitter, new).part(body, 0, ResumableSha256())
    hasher = ResumableSha256()
    first = Reencryptor(submitter, new).part(body[: 2 * SEG], 0, hasher)
    hasher = ResumableSha256.from_state(hasher.state())
    second = Reencryptor(submitter, new).part(body[2 * SEG :], 2, hasher)
    assert first.data + second.data == one_pass.data
    assert hasher.hexdigest() == hashlib.sha256(plain).hexdigest()


@pytest.mark.parametrize("position", [0, 12, SEG + 100, 2 * SEG + 5])
def test_a_flipped_byte_names_its_segment(position: int) -> None:
    submitter = os.urandom(32)
    body = bytearray(_body(os.urandom(2 * c4gh.SEGMENT_SIZE + 10), submitter))
    body[position] ^= 0x01
    with pytest.raises(SegmentDamaged) as caught:
        Reencryptor(submitter, os.urandom(32)).part(bytes(body), 7, ResumableSha256())
    assert caught.value.index == 7 + position // SEG


@pytest.mark.parametrize("cut", [1, 16, 28, 29, 1000])
def test_a_cut_last_segment_is_damaged(cut: int) -> None:
    submitter = os.urandom(32)
    body = _body(os.urandom(c4gh.SEGMENT_SIZE + 2000), submitter)
    with pytest.raises(SegmentDamaged) as caught:
        Reencryptor(submitter, os.urandom(32)).part(body[:-cut], 0, ResumableSha256())
    assert caught.value.index == 1


def test_another_key_fails_on_the_first_segment() -> None:
    body = _body(b"x" * 100, os.urandom(32))
    with pytest.raises(SegmentDamaged) as caught:
        Reencryptor(os.urandom(32), os.urandom(32)).part(body, 0, ResumableSha256())
    assert caught.value.index == 0


def test_staging_part_size_is_segment_aligned_and_bounded() -> None:
    assert staging_part_size(67137536) == 67137536
    assert staging_part_size(5245120) == MIN_PART_SIZE == 80 * SEG
    assert staging_part_size(5 * 1024**2) == MIN_PART_SIZE
    assert staging_part_size(100 * SEG + 5) == 100 * SEG
    assert staging_part_size(5 * 1024**3, 200 * SEG + 1) == 200 * SEG
    assert part_count(0, MIN_PART_SIZE) == 1
    assert part_count(MIN_PART_SIZE, MIN_PART_SIZE) == 1
    assert part_count(MIN_PART_SIZE + 1, MIN_PART_SIZE) == 2


# ---------------------------------------------------------------- wrapping


def test_file_secrets_do_not_show_in_their_repr() -> None:
    secrets = FileSecrets(b"\x01" * 32, b"\x02" * 32, "id-1", 124)
    assert repr(b"\x01" * 32) not in repr(secrets)
    assert repr(b"\x02" * 32) not in repr(secrets)
    assert "id-1" in repr(secrets)


# ---------------------------------------------------------------- messages


def _upload_event() -> dict:
    return {
        "file_id": "f1",
        "box_id": "b1",
        "alias": "a.txt",
        "object_id": "f1",
        "bucket": "fs-inbox",
        "decrypted_size": 1,
        "encrypted_size": 153,
        "part_size": 5245120,
        "submitter_public_key": "k",
        "decrypted_sha256": "00",
        "encrypted_md5": "00-1",
        "encrypted_parts_md5": ["00"],
        "encrypted_parts_sha256": ["00"],
    }


def test_messages_are_told_apart_by_shape() -> None:
    s3 = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:CompleteMultipartUpload",
                "s3": {"bucket": {"name": "fs-inbox"}, "object": {"key": "a%2Bb+c", "size": 9}},
            },
            {"eventName": "ObjectRemoved:Delete", "s3": {}},
        ]
    }
    assert parse(json.dumps(s3)) == [ObjectCreated("fs-inbox", "a+b c", 9)]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "fs-inbox"}
    assert parse(json.dumps(test_event)) is None
    envelope = Envelope(type="FileUploadReceived", key="f1", payload=_upload_event())
    upload = parse(envelope.model_dump_json())
    assert isinstance(upload, Upload) and upload.file_id == "f1" and upload.encrypted_size == 153
    assert parse(continuation_body("k1")) == Continuation("k1")
    other = Envelope(type="FileDeleted", key="f1", payload={"file_id": "f1"})
    assert parse(other.model_dump_json()) is None
    broken = Envelope(type="FileUploadReceived", key="f1", payload={"file_id": "f1"})
    assert parse(broken.model_dump_json()) is None
    assert parse("not json") is None
    assert parse("[1, 2]") is None


# ---------------------------------------------------------------- invocation budget


def _settings(**kwargs: float) -> Settings:
    return Settings(inbox_bucket="in", staging_bucket="st", **kwargs)  # type: ignore[arg-type]


def test_invocation_hands_on_at_its_budget_part_limit_or_lambda_deadline() -> None:
    assert Invocation(_settings(invocation_budget_s=0)).should_hand_on()
    relaxed = Invocation(_settings(invocation_budget_s=600), remaining_ms=lambda: 800_000)
    assert not relaxed.should_hand_on()
    short = Invocation(_settings(safety_margin_s=120), remaining_ms=lambda: 119_000)
    assert short.should_hand_on()
    counted = Invocation(_settings(max_parts_per_invocation=2))
    counted.parts_done = 1
    assert not counted.should_hand_on()
    counted.parts_done = 2
    assert counted.should_hand_on()


def test_lease_ends_before_the_queue_redelivers() -> None:
    lambda_run = Invocation(_settings(), remaining_ms=lambda: 900_000)
    assert lambda_run.lease_seconds() == 900 + LEASE_SLACK_S < 960
    assert Invocation(_settings(), remaining_ms=lambda: 10_000).lease_seconds() == 40
