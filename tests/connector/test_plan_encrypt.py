"""Part layout and on-the-fly encryption, checked against the reference crypt4gh library."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

import pytest
from crypt4gh import lib as c4gh_lib

from connector.errors import BadInput, TransferFailed
from connector.upload.encrypt import PartEncryptor
from connector.upload.plan import MAX_PART_SIZE, MIN_PART_SIZE, UploadPlan, plan_upload
from connector.upload.uploader import upload_parts
from shared.crypt.c4gh import encrypted_size, make_header, new_session_key
from shared.crypt.checksums import multipart_etag
from shared.crypt.checksums import part_digests as digest_part
from shared.crypt.keys import generate_keypair
from shared.crypt.segments import SivSegmentEncryptor

SEGMENT = 65_536
SMALL_PLAN_SIZES = [0, 1, 65_535, 65_536, 65_537, 3 * SEGMENT + 5]


def test_part_size_is_aligned_like_ghga() -> None:
    assert plan_upload(1000, 64 * 1024 * 1024).part_size == 67_137_536
    assert plan_upload(12_000_000, 5_000_000).part_size == MIN_PART_SIZE == 5_245_120
    plan = plan_upload(12_000_000, 5_000_000)
    assert plan.encrypted_size == 12_005_276
    assert [plan.part_length(n) for n in range(1, plan.part_count + 1)] == [
        5_245_120,
        5_245_120,
        1_515_036,
    ]
    assert plan_upload(0, 1).part_count == 1 and plan_upload(0, 1).part_length(1) == 124
    assert plan_upload(10, 10 * 1024**4).part_size == MAX_PART_SIZE
    assert MAX_PART_SIZE % 65_564 == 0 and MAX_PART_SIZE <= 5 * 1024**3


def test_part_size_grows_to_stay_within_10000_parts() -> None:
    size = 100 * 1024**3  # 100 GiB: 20,480 parts of 5 MiB would be too many
    plan = plan_upload(size, MIN_PART_SIZE)
    assert plan.part_count <= 10_000
    assert plan.part_size % 65_564 == 0
    assert plan_upload(size, MIN_PART_SIZE).part_size > MIN_PART_SIZE
    with pytest.raises(BadInput, match="too large"):
        plan_upload(10_000 * MAX_PART_SIZE, MIN_PART_SIZE)


def test_part_lengths_add_up() -> None:
    for size in [0, 1, MIN_PART_SIZE, 3 * MIN_PART_SIZE + 17]:
        plan = UploadPlan(size, MIN_PART_SIZE)
        lengths = [plan.part_length(n) for n in range(1, plan.part_count + 1)]
        assert sum(lengths) == encrypted_size(size)
        assert all(length == MIN_PART_SIZE for length in lengths[:-1])
        with pytest.raises(ValueError):
            plan.part_length(plan.part_count + 1)


def _parts(data: bytes, plan: UploadPlan, key: bytes, header: bytes) -> tuple[list[bytes], str]:
    encryptor = PartEncryptor(io.BytesIO(data), plan, key, header)
    buffer = bytearray(plan.part_size)
    parts = []
    while (part := encryptor.next_part(buffer)) is not None:
        assert part[0] == len(parts) + 1
        parts.append(bytes(part[1]))
    return parts, encryptor.decrypted_sha256


@pytest.mark.parametrize("size", SMALL_PLAN_SIZES)
@pytest.mark.parametrize("part_size", [65_564, 2 * 65_564])
def test_parts_form_a_standard_crypt4gh_file(size: int, part_size: int) -> None:
    """Parts smaller than S3 allows, to cut many segments in many places cheaply."""
    reader, recipient = generate_keypair()
    writer, _ = generate_keypair()
    data = os.urandom(size)
    key = new_session_key()
    plan = UploadPlan(size, part_size)
    parts, sha256 = _parts(data, plan, key, make_header(key, writer, recipient))
    assert [len(p) for p in parts] == [plan.part_length(n) for n in range(1, plan.part_count + 1)]
    out = io.BytesIO()
    c4gh_lib.decrypt([(0, reader, None)], io.BytesIO(b"".join(parts)), out)
    assert out.getvalue() == data
    assert sha256 == hashlib.sha256(data).hexdigest()


def test_reencryption_is_deterministic_and_tracks_changes() -> None:
    size = 6 * SEGMENT
    data = bytearray(os.urandom(size))
    key, header = new_session_key(), b"H" * 124
    plan = UploadPlan(size, 2 * 65_564)
    first, _ = _parts(bytes(data), plan, key, header)
    assert _parts(bytes(data), plan, key, header)[0] == first
    data[2 * SEGMENT + 10] ^= 1  # one byte of segment 2, which lies wholly in part 2
    changed, _ = _parts(bytes(data), plan, key, header)
    # nonces are bound to the plaintext so far: parts before the change stay, the rest not
    assert [a == b for a, b in zip(first, changed, strict=True)] == [True, False, False, False]
    other_key, _ = _parts(bytes(data), plan, new_session_key(), header)
    assert all(a != b for a, b in zip(changed[1:], other_key[1:], strict=True))


def test_nonces_depend_on_index_and_binding() -> None:
    encryptor = SivSegmentEncryptor(new_session_key())
    same, sane = hashlib.sha256(b"same").digest(), hashlib.sha256(b"sane").digest()
    nonce = encryptor.nonce(0, same)
    assert encryptor.nonce(0, same) == nonce
    assert encryptor.nonce(1, same) != nonce
    assert encryptor.nonce(0, sane) != nonce
    assert len(nonce) == 12
    assert encryptor.encrypt_segment(0, b"same", same)[:12] == nonce
    with pytest.raises(ValueError):
        encryptor.encrypt_segment(0, b"", same)
    with pytest.raises(ValueError):
        encryptor.encrypt_segment(0, bytes(SEGMENT + 1), same)


def test_nonces_differ_for_every_segment_of_a_file_of_equal_segments() -> None:
    """Equal segments at different places, or after different prefixes, never share a nonce
    (the binding is the running hash of the whole plaintext so far)."""
    size = 4 * SEGMENT
    plan = UploadPlan(size, size + 200)
    parts, _ = _parts(bytes(size), plan, new_session_key(), b"H" * 124)
    body = parts[0][124:]
    nonces = [body[i : i + 12] for i in range(0, len(body), SEGMENT + 28)]
    assert len(nonces) == 4 and len(set(nonces)) == 4


def test_without_encrypt_into_the_bytes_are_the_same() -> None:
    """Older cryptography releases lack encrypt_into; the fallback writes the same bytes."""
    key = new_session_key()
    fast, slow = SivSegmentEncryptor(key), SivSegmentEncryptor(key)
    slow._into = None
    for plain in (b"x", os.urandom(SEGMENT)):
        binding = hashlib.sha256(plain).digest()
        assert fast.encrypt_segment(7, plain, binding) == slow.encrypt_segment(7, plain, binding)


def test_changed_file_size_is_detected() -> None:
    key, header = new_session_key(), b"H" * 124
    plan = UploadPlan(3 * SEGMENT, 65_564)
    with pytest.raises(TransferFailed, match="shrank"):
        _parts(os.urandom(2 * SEGMENT), plan, key, header)
    with pytest.raises(TransferFailed, match="grew"):
        _parts(os.urandom(3 * SEGMENT + 1), plan, key, header)


def test_checksums_are_the_s3_multipart_kind() -> None:
    parts = [os.urandom(1000), os.urandom(10)]
    md5s = [digest_part(p)[0] for p in parts]
    assert md5s == [hashlib.md5(p).hexdigest() for p in parts]  # noqa: S324
    assert digest_part(parts[0])[1] == hashlib.sha256(parts[0]).hexdigest()
    joined = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()  # noqa: S324
    assert multipart_etag(md5s) == f"{joined}-2"
    assert multipart_etag(md5s[:1]).endswith("-1")


def test_upload_parts_sends_missing_parts_only(tmp_path: Path) -> None:
    """With the parts an earlier run stored, only the others are PUT; checksums match."""
    from connector.api.ucs import StoredPart

    path = tmp_path / "file"
    path.write_bytes(os.urandom(5 * MIN_PART_SIZE // 2))
    plan = UploadPlan(path.stat().st_size, MIN_PART_SIZE)
    key, header = new_session_key(), b"H" * 124
    sent: dict[int, bytes] = {}

    async def put(number: int, data: memoryview, sha256: str | None = None) -> None:
        sent[number] = bytes(data)

    first = asyncio.run(upload_parts(path, plan, key, header, put, concurrency=2))
    assert sorted(sent) == [1, 2, 3] and first.parts_sent == 3
    stored = {
        n: StoredPart(n, len(sent[n]), hashlib.md5(sent[n]).hexdigest())  # noqa: S324
        for n in (1, 3)
    }
    stored[2] = StoredPart(2, len(sent[2]), "0" * 32)  # a part that differs: sent again
    sent.clear()
    second = asyncio.run(upload_parts(path, plan, key, header, put, stored=stored))
    assert sorted(sent) == [2]
    assert (second.parts_sent, second.parts_skipped) == (1, 2)
    assert second.checksums == first.checksums
    assert first.checksums.decrypted_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
