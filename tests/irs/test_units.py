"""Pure pieces of IRS: resumable hashing, the re-encryption transform, wrapping, messages."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from functions.irs.config import LAMBDA_MEMORY_ENV, IrsConfig
from functions.irs.model import (
    DEFAULT_MIN_STAGING_PART_SIZE,
    LEASE_SLACK_S,
    Invocation,
    Settings,
    Upload,
)
from functions.irs.sizing import (
    MIN_PART_SIZE,
    largest_body,
    largest_part_size,
    parts_in_memory,
    staging_part_size,
)
from functions.irs.wire import Continuation, ObjectCreated, continuation_body, parse
from shared.config import ConfigError, load_config
from shared.crypt import c4gh
from shared.crypt.checksums import part_digests as digests
from shared.crypt.reencrypt import Reencryptor, SegmentDamaged, segment_nonce
from shared.crypt.resumable_sha256 import InvalidHashState, ResumableSha256
from shared.events import Envelope
from shared.multipart import MAX_OBJECT_SIZE, MAX_PARTS, MIB, part_count
from shared.ports import FileSecrets
from shared.resources import DECLARATION

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


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_a_range_is_hashed_in_place_and_counted(kind: type) -> None:
    data = kind(os.urandom(300_001))
    hasher = ResumableSha256()
    hasher.update_range(data, 7, 100_000)
    hasher.update_range(data, 100_000, 100_000)  # empty
    resumed = ResumableSha256.from_state(hasher.state())
    resumed.update_range(data, 100_000, len(data))
    assert resumed.hexdigest() == hashlib.sha256(bytes(data[7:])).hexdigest()
    assert (hasher.length, resumed.length) == (100_000 - 7, len(data) - 7)
    with pytest.raises(ValueError):
        resumed.update_range(data, 5, len(data) + 1)


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


def _sized(memory_mb: int = 4096, cap: int | None = None, floor: int = 0) -> Settings:
    return Settings(
        "in", "st", memory_mb=memory_mb, max_staging_part_size=cap, min_staging_part_size=floor
    )


def test_staged_parts_are_at_least_the_floor_where_the_memory_allows() -> None:
    small = 10 * 1024**3
    floor = DEFAULT_MIN_STAGING_PART_SIZE
    assert floor == 64 * MIB  # deployed: 8 MiB uploads are staged in 64 MiB parts
    assert Settings("in", "st").min_staging_part_size == 0  # the core's: the upload's size
    assert staging_part_size(8 * MIB, small, _sized(floor=floor)) == floor // SEG * SEG
    # a larger upload part is kept; a cap, and the memory, still bound the floor
    assert staging_part_size(96 * MIB, small, _sized(floor=floor)) == 96 * MIB // SEG * SEG
    assert staging_part_size(8 * MIB, small, _sized(cap=16 * MIB, floor=floor)) == (
        16 * MIB // SEG * SEG
    )
    low = _sized(memory_mb=512, floor=floor)  # 256 MiB for parts: 4 of 64 MiB
    assert staging_part_size(8 * MIB, small, low) == 64 * MIB // SEG * SEG
    lower = _sized(memory_mb=384, floor=floor)  # 128 MiB: the floor gives way
    assert staging_part_size(8 * MIB, small, lower) == 32 * MIB // SEG * SEG


def test_staging_part_size_follows_the_upload_on_segment_boundaries() -> None:
    small = 10 * 1024**3
    assert staging_part_size(67137536, small, _sized()) == 67137536
    assert staging_part_size(5245120, small, _sized()) == MIN_PART_SIZE == 80 * SEG
    assert staging_part_size(5 * 1024**2, small, _sized()) == MIN_PART_SIZE
    assert staging_part_size(100 * SEG + 5, small, _sized()) == 100 * SEG
    assert staging_part_size(5 * 1024**3, small, _sized(cap=200 * SEG + 1)) == 200 * SEG
    # the upload's preference is held to what fits with every overlap: 4 parts in memory
    preferred = staging_part_size(5 * 1024**3, small, _sized())
    assert preferred is not None and preferred % SEG == 0
    assert 4 * preferred <= (4096 - 256) * MIB < 4 * (preferred + SEG)
    assert part_count(0, MIN_PART_SIZE) == 1
    assert part_count(MIN_PART_SIZE, MIN_PART_SIZE) == 1
    assert part_count(MIN_PART_SIZE + 1, MIN_PART_SIZE) == 2


def test_the_largest_file_gets_parts_that_fit_max_parts() -> None:
    # the most plaintext a 5 TiB object holds, and its header-less encrypted body
    plain = MAX_OBJECT_SIZE // c4gh.CIPHER_SEGMENT_SIZE * c4gh.SEGMENT_SIZE
    body = c4gh.encrypted_body_size(plain)
    assert body <= MAX_OBJECT_SIZE
    size = staging_part_size(c4gh.MIN_ALIGNED_PART_SIZE, body, _sized())
    assert size is not None and size % SEG == 0
    assert part_count(body, size) <= MAX_PARTS < part_count(body, size - SEG)
    # with every overlap at the declared memory: reading, re-encrypting, uploading at once
    assert parts_in_memory(_sized(), size) == 4


def test_a_file_too_large_for_the_memory_gets_no_part_size() -> None:
    settings = _sized(1024)
    largest = largest_part_size(settings)
    assert largest == (1024 - 256) * MIB // 2 // SEG * SEG
    assert largest_body(settings) == largest * MAX_PARTS
    assert staging_part_size(MIN_PART_SIZE, largest * MAX_PARTS, settings) == largest
    assert staging_part_size(MIN_PART_SIZE, largest * MAX_PARTS + 1, settings) is None
    assert staging_part_size(MIN_PART_SIZE, MAX_OBJECT_SIZE, settings) is None


def test_large_parts_run_with_less_overlap_rather_than_more_memory() -> None:
    settings = _sized(1024)  # 768 MiB for parts
    assert parts_in_memory(settings, 100 * MIB) == 4
    assert parts_in_memory(settings, 200 * MIB) == 3
    assert parts_in_memory(settings, 384 * MIB) == 2
    assert parts_in_memory(settings, 700 * MIB) == 2  # never fewer than the sequential loop


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
        "parts_manifest": {
            "bucket": "fs-inbox",
            "key": "manifests/f1.json",
            "sha256": "00",
            "size": 2,
            "parts": 1,
        },
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
    spent = Invocation(_settings(invocation_budget_s=0))
    assert spent.time_is_short()
    assert not spent.should_hand_on()  # never before one part: every turn makes progress
    spent.parts_done = 1
    assert spent.should_hand_on()
    relaxed = Invocation(_settings(invocation_budget_s=600), remaining_ms=lambda: 800_000)
    assert not relaxed.should_hand_on()
    short = Invocation(_settings(safety_margin_s=120), remaining_ms=lambda: 119_000)
    short.parts_done = 1
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


# ---------------------------------------------------------------- configuration


def test_memory_follows_the_function_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "IRS_EKSS_URL": "http://ekss",
        "IRS_EKSS_TOKEN": "token",
        "IRS_BUCKETS": json.dumps({"inbox": "in", "staging": "st"}),
    }
    monkeypatch.delenv(LAMBDA_MEMORY_ENV, raising=False)
    declared = DECLARATION.function("irs").memory_mb
    assert load_config(IrsConfig, "IRS", env).settings().memory_mb == declared
    monkeypatch.setenv(LAMBDA_MEMORY_ENV, "2048")  # what Lambda says the function has
    assert load_config(IrsConfig, "IRS", env).settings().memory_mb == 2048
    assert load_config(IrsConfig, "IRS", {**env, "IRS_MEMORY_MB": "1024"}).memory_mb == 1024
    with pytest.raises(ConfigError):
        load_config(IrsConfig, "IRS", {**env, "IRS_MEMORY_MB": "20000"})


def test_a_deployment_stages_in_parts_of_at_least_the_floor() -> None:
    from functions.irs.config import IrsConfig

    fields = IrsConfig.model_fields
    assert fields["min_staging_part_size"].default == DEFAULT_MIN_STAGING_PART_SIZE
