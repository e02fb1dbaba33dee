"""Tests of shared.crypt.c4gh against the reference crypt4gh library and its CLI."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from crypt4gh import header as c4gh_header
from crypt4gh import lib as c4gh_lib
from crypt4gh.keys import get_private_key, get_public_key

from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair, private_key_pem, public_key_pem

SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536 + 5]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} command not installed")
    return found


def _encrypt_ours(plain: bytes, recipient_pk: bytes) -> bytes:
    writer_sk, _ = generate_keypair()
    session_key = c4gh.new_session_key()
    return c4gh.make_header(session_key, writer_sk, recipient_pk) + c4gh.encrypt_body(
        plain, session_key
    )


def _decrypt_ours(data: bytes, sk: bytes) -> bytes:
    session_keys, header_size = c4gh.parse_header(data, sk)
    return c4gh.decrypt_body(data[header_size:], session_keys)


def _encrypt_std(plain: bytes, recipient_pk: bytes) -> bytes:
    writer_sk, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer_sk, recipient_pk)], io.BytesIO(plain), out)
    return out.getvalue()


def _decrypt_std(data: bytes, sk: bytes) -> bytes:
    out = io.BytesIO()
    c4gh_lib.decrypt([(0, sk, None)], io.BytesIO(data), out)
    return out.getvalue()


def _write_keys(directory: Path, sk: bytes, pk: bytes, name: str = "test") -> tuple[Path, Path]:
    """Key files in the formats the crypt4gh CLI reads."""
    sk_path, pk_path = directory / f"{name}.sec", directory / f"{name}.pub"
    sk_path.write_text(private_key_pem(sk))
    pk_path.write_text(public_key_pem(pk))
    return sk_path, pk_path


def _cli(args: list[str], data: bytes) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C4GH_")}
    result = subprocess.run(
        [_tool("crypt4gh"), *args], input=data, capture_output=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


# --------------------------------------------------------------------------------------------
# Constants and sizes
# --------------------------------------------------------------------------------------------


def test_constants_match_crypt4gh() -> None:
    import crypt4gh

    assert c4gh.SEGMENT_SIZE == crypt4gh.SEGMENT_SIZE == 65536
    assert c4gh.CIPHER_DIFF == crypt4gh.CIPHER_DIFF == 28
    assert c4gh.CIPHER_SEGMENT_SIZE == crypt4gh.CIPHER_SEGMENT_SIZE == 65564
    assert c4gh.ENVELOPE_SIZE_ONE_RECIPIENT == 124
    assert c4gh.MAGIC == c4gh_header.MAGIC_NUMBER == b"crypt4gh"


@pytest.mark.parametrize(
    ("plain", "body"),
    [(0, 0), (1, 29), (65535, 65563), (65536, 65564), (65537, 65593), (3 * 65536 + 5, 196725)],
)
def test_size_formulas(plain: int, body: int) -> None:
    assert c4gh.encrypted_body_size(plain) == body
    assert c4gh.encrypted_size(plain) == body + 124
    assert c4gh.encrypted_size(plain, header_size=200) == body + 200
    assert c4gh.plain_size_of_body(body) == plain


def test_plain_size_of_body_inverts_encrypted_body_size() -> None:
    for plain in [*range(0, 300), *range(65400, 65700), *range(10 * 65536 - 50, 10 * 65536 + 50)]:
        assert c4gh.plain_size_of_body(c4gh.encrypted_body_size(plain)) == plain


@pytest.mark.parametrize("body", [1, 28, 65564 + 1, 65564 + 28, 2 * 65564 + 5, -1])
def test_plain_size_of_impossible_body_raises(body: int) -> None:
    with pytest.raises(ValueError):
        c4gh.plain_size_of_body(body)


def test_negative_plain_size_raises() -> None:
    with pytest.raises(ValueError):
        c4gh.encrypted_body_size(-1)


# --------------------------------------------------------------------------------------------
# Interoperability with the crypt4gh library and CLI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_ours_roundtrip_and_sizes(size: int, keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    plain = os.urandom(size)
    data = _encrypt_ours(plain, pk)
    assert len(data) == c4gh.encrypted_size(size)
    assert c4gh.header_length(data) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    assert _decrypt_ours(data, sk) == plain


@pytest.mark.parametrize("size", SIZES)
def test_ours_decrypts_with_crypt4gh_lib(size: int, keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    plain = os.urandom(size)
    assert _decrypt_std(_encrypt_ours(plain, pk), sk) == plain


@pytest.mark.parametrize("size", SIZES)
def test_crypt4gh_lib_output_decrypts_with_ours(size: int, keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    plain = os.urandom(size)
    data = _encrypt_std(plain, pk)
    assert len(data) == c4gh.encrypted_size(size)
    assert _decrypt_ours(data, sk) == plain

    stream = io.BytesIO(data)
    session_keys, header_size = c4gh.read_header(stream, sk)
    assert header_size == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT == stream.tell()
    assert b"".join(c4gh.iter_decrypt(stream, session_keys, segments_per_chunk=2)) == plain


@pytest.mark.parametrize("size", SIZES)
def test_ours_decrypts_with_crypt4gh_cli(
    size: int, keys: tuple[bytes, bytes], tmp_path: Path
) -> None:
    sk, pk = keys
    sk_path, _ = _write_keys(tmp_path, sk, pk)
    plain = os.urandom(size)
    assert _cli(["decrypt", "--sk", str(sk_path)], _encrypt_ours(plain, pk)) == plain


def test_crypt4gh_cli_output_decrypts_with_ours(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    sk, pk = keys
    writer_path, _ = _write_keys(tmp_path, *generate_keypair(), name="writer")
    _, recipient_path = _write_keys(tmp_path, sk, pk, name="recipient")
    plain = os.urandom(3 * 65536 + 5)
    data = _cli(["encrypt", "--sk", str(writer_path), "--recipient_pk", str(recipient_path)], plain)
    assert len(data) == c4gh.encrypted_size(len(plain))
    assert _decrypt_ours(data, sk) == plain


def test_keys_from_crypt4gh_keygen(tmp_path: Path) -> None:
    sk_path, pk_path = tmp_path / "gen.sec", tmp_path / "gen.pub"
    env = {k: v for k, v in os.environ.items() if not k.startswith("C4GH_")}
    subprocess.run(
        [_tool("crypt4gh-keygen"), "--nocrypt", "--sk", str(sk_path), "--pk", str(pk_path)],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    sk = get_private_key(str(sk_path), lambda: "")
    pk = get_public_key(str(pk_path))
    plain = os.urandom(65537)
    data = _encrypt_ours(plain, pk)
    assert _decrypt_ours(data, sk) == plain
    assert _cli(["decrypt", "--sk", str(sk_path)], data) == plain


def test_reencrypt_header_for_another_recipient(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    sk, pk = keys
    user_sk, user_pk = generate_keypair()
    plain = os.urandom(2 * 65536 + 17)
    data = _encrypt_ours(plain, pk)
    header_size = c4gh.header_length(data)
    new_header = c4gh.reencrypt_header(data, sk, user_pk)
    assert len(new_header) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    handed_out = new_header + data[header_size:]
    assert _decrypt_std(handed_out, user_sk) == plain
    user_sk_path, _ = _write_keys(tmp_path, user_sk, user_pk)
    assert _cli(["decrypt", "--sk", str(user_sk_path)], handed_out) == plain
    with pytest.raises(c4gh.HeaderError):
        c4gh.parse_header(new_header, sk)


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A stream returning short reads, like a pipe."""

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("per_chunk", [1, 3])
def test_iter_encrypt_file_whole_segments(
    size: int, per_chunk: int, keys: tuple[bytes, bytes]
) -> None:
    sk, pk = keys
    plain = os.urandom(size)
    session_key = c4gh.new_session_key()
    chunks = list(c4gh.iter_encrypt_file(_Trickle(plain), session_key, per_chunk))
    assert all(len(c) == per_chunk * c4gh.CIPHER_SEGMENT_SIZE for c in chunks[:-1])
    assert all(chunks)
    body = b"".join(chunks)
    assert len(body) == c4gh.encrypted_body_size(size)
    header = c4gh.make_header(session_key, generate_keypair()[0], pk)
    assert _decrypt_std(header + body, sk) == plain
    parts = list(c4gh.iter_decrypt(_Trickle(body, 777), [session_key], per_chunk))
    assert b"".join(parts) == plain
    assert all(len(p) == per_chunk * c4gh.SEGMENT_SIZE for p in parts[:-1])


@pytest.mark.parametrize("chunk_sizes", [[1], [1000, 70000, 3], [65536], [200000]])
def test_encrypt_stream_regroups_chunks(chunk_sizes: list[int]) -> None:
    rng = random.Random(len(chunk_sizes))
    session_key = c4gh.new_session_key()
    chunks = [os.urandom(rng.choice(chunk_sizes)) for _ in range(20)]
    plain = b"".join(chunks)
    encryptor = c4gh.SegmentEncryptor(session_key)
    pieces = list(encryptor.encrypt_stream(chunks, segments_per_chunk=2))
    assert all(len(p) == 2 * c4gh.CIPHER_SEGMENT_SIZE for p in pieces[:-1])
    body = b"".join(pieces)
    assert len(body) == c4gh.encrypted_body_size(len(plain))
    assert c4gh.decrypt_body(body, [session_key]) == plain


def test_encrypt_stream_empty() -> None:
    encryptor = c4gh.SegmentEncryptor(c4gh.new_session_key())
    assert list(encryptor.encrypt_stream([])) == []
    assert list(encryptor.encrypt_stream([b"", b""])) == []


def test_part_by_part_matches_whole() -> None:
    """Parts of whole segments decrypt independently (what interrogation relies on)."""
    session_key = c4gh.new_session_key()
    plain = os.urandom(5 * 65536 + 123)
    body = c4gh.encrypt_body(plain, session_key)
    part = 2 * c4gh.CIPHER_SEGMENT_SIZE
    decrypted = [
        c4gh.decrypt_body(body[i : i + part], [session_key]) for i in range(0, len(body), part)
    ]
    assert b"".join(decrypted) == plain


def test_segment_encryptor_limits_and_nonces() -> None:
    encryptor = c4gh.SegmentEncryptor(c4gh.new_session_key())
    with pytest.raises(ValueError):
        encryptor.encrypt_segment(b"")
    with pytest.raises(ValueError):
        encryptor.encrypt_segment(bytes(c4gh.SEGMENT_SIZE + 1))
    one, two = encryptor.encrypt_segment(b"same"), encryptor.encrypt_segment(b"same")
    assert len(one) == 4 + c4gh.CIPHER_DIFF
    assert one[:12] != two[:12] and one != two
    with pytest.raises(ValueError):
        c4gh.SegmentEncryptor(b"short")


def test_several_session_keys() -> None:
    first, second = c4gh.new_session_key(), c4gh.new_session_key()
    plain = os.urandom(3 * 65536)
    body = c4gh.encrypt_body(plain[:65536], first) + c4gh.encrypt_body(plain[65536:], second)
    assert c4gh.decrypt_body(body, [first, second]) == plain
    assert c4gh.decrypt_body(body, [second, first]) == plain
    with pytest.raises(c4gh.SegmentAuthError):
        c4gh.decrypt_body(body, [first])


def test_header_with_two_session_keys(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    writer_sk, _ = generate_keypair()
    first, second = c4gh.new_session_key(), c4gh.new_session_key()
    packets = [
        packet
        for key in (first, second)
        for packet in c4gh_header.encrypt(
            c4gh_header.make_packet_data_enc(0, key), [(0, writer_sk, pk)]
        )
    ]
    header = c4gh_header.serialize(packets)
    assert c4gh.parse_header(header + b"body", sk) == ([first, second], len(header))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 11, 12, 500, 65563, 65564, 65564 + 12 + 1, -17, -1])
def test_flipped_byte_raises_segment_auth_error(position: int) -> None:
    session_key = c4gh.new_session_key()
    body = bytearray(c4gh.encrypt_body(os.urandom(65536 + 1000), session_key))
    body[position] ^= 0x01
    with pytest.raises(c4gh.SegmentAuthError):
        c4gh.decrypt_body(bytes(body), [session_key])
    with pytest.raises(c4gh.SegmentAuthError):
        b"".join(c4gh.iter_decrypt(io.BytesIO(bytes(body)), [session_key]))


def test_truncated_last_segment_raises() -> None:
    session_key = c4gh.new_session_key()
    body = c4gh.encrypt_body(os.urandom(65536 + 10), session_key)
    for cut in (1, 9, 10):  # cutting 10 leaves 28 bytes: not even one plaintext byte
        with pytest.raises(c4gh.SegmentAuthError):
            c4gh.decrypt_body(body[:-cut], [session_key])


def test_wrong_session_key_raises() -> None:
    body = c4gh.encrypt_body(b"data", c4gh.new_session_key())
    with pytest.raises(c4gh.SegmentAuthError):
        c4gh.decrypt_body(body, [c4gh.new_session_key()])
    with pytest.raises(ValueError):
        c4gh.SegmentDecryptor([])


def test_header_for_another_key_raises(keys: tuple[bytes, bytes]) -> None:
    sk, _ = keys
    _, other_pk = generate_keypair()
    data = _encrypt_ours(b"secret", other_pk)
    with pytest.raises(c4gh.HeaderError, match="cannot be decrypted"):
        c4gh.parse_header(data, sk)
    with pytest.raises(c4gh.HeaderError):
        c4gh.read_header(io.BytesIO(data), sk)


def test_tampered_header_raises(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    data = bytearray(_encrypt_ours(b"secret", pk))
    data[100] ^= 0x01
    with pytest.raises(c4gh.HeaderError):
        c4gh.parse_header(bytes(data), sk)


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is certainly not an encrypted file at all",
        b"\x1f\x8b\x08\x00" + bytes(200),
        b"crypt4gh" + (2).to_bytes(4, "little") + (1).to_bytes(4, "little") + bytes(200),
        b"crypt4gh" + (1).to_bytes(4, "little") + (0).to_bytes(4, "little") + bytes(200),
        b"crypt4gh" + (1).to_bytes(4, "little") + (1).to_bytes(4, "little") + bytes(200),
        b"crypt4gh" + (1).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"\xff" * 200,
        b"x",
    ],
)
def test_non_crypt4gh_data_raises(data: bytes, keys: tuple[bytes, bytes]) -> None:
    sk, _ = keys
    with pytest.raises(c4gh.HeaderError) as info:
        c4gh.parse_header(data, sk)
    assert not isinstance(info.value, c4gh.HeaderTruncatedError)
    with pytest.raises(c4gh.HeaderError):
        c4gh.read_header(io.BytesIO(data), sk)


def test_truncated_header_raises(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    data = _encrypt_ours(b"", pk)
    assert len(data) == c4gh.ENVELOPE_SIZE_ONE_RECIPIENT
    for cut in range(len(data)):
        with pytest.raises(c4gh.HeaderTruncatedError):
            c4gh.parse_header(data[:cut], sk)
        with pytest.raises(c4gh.HeaderTruncatedError):
            c4gh.header_length(data[:cut])
    assert c4gh.parse_header(data, sk)[1] == len(data)


def test_is_crypt4gh(keys: tuple[bytes, bytes]) -> None:
    _, pk = keys
    data = _encrypt_ours(b"abc", pk)
    assert c4gh.is_crypt4gh(data)
    assert c4gh.is_crypt4gh(data[:12])
    assert not c4gh.is_crypt4gh(data[:11])
    assert not c4gh.is_crypt4gh(b"crypt4gh" + (2).to_bytes(4, "little"))
    assert not c4gh.is_crypt4gh(b"CRYPT4GH" + (1).to_bytes(4, "little"))
    assert not c4gh.is_crypt4gh(b"")


def test_key_length_checks() -> None:
    sk, pk = generate_keypair()
    with pytest.raises(ValueError):
        c4gh.make_header(b"short", sk, pk)
    with pytest.raises(ValueError):
        c4gh.make_header(c4gh.new_session_key(), sk, pk[:31])
    with pytest.raises(TypeError):
        c4gh.SegmentDecryptor(c4gh.new_session_key())  # one key, not a list


# --------------------------------------------------------------------------------------------
# Ranges
# --------------------------------------------------------------------------------------------


class _Body:
    """An encrypted body behind an HTTP-like ranged reader that records its calls."""

    def __init__(self, plain: bytes) -> None:
        self.key = c4gh.new_session_key()
        self.plain = plain
        self.body = c4gh.encrypt_body(plain, self.key)
        self.calls: list[tuple[int, int]] = []

    def read(self, start: int, end_inclusive: int) -> bytes:
        assert 0 <= start <= end_inclusive < len(self.body)
        self.calls.append((start, end_inclusive))
        return self.body[start : end_inclusive + 1]

    def decrypt(self, start: int, end: int) -> bytes:
        return c4gh.decrypt_range(self.read, [self.key], start, end, len(self.body))


@pytest.fixture(scope="module")
def ranged() -> _Body:
    return _Body(os.urandom(5 * 65536 + 1234))


def _range_cases(size: int) -> list[tuple[int, int]]:
    seg = c4gh.SEGMENT_SIZE
    cases = [
        (0, 1),
        (0, size),
        (0, seg),
        (0, seg + 1),
        (seg - 1, seg + 1),
        (seg, seg + 1),
        (seg, 2 * seg),
        (seg + 1, 2 * seg - 1),
        (70000, 200000),
        (2 * seg - 5, 4 * seg + 5),
        (3 * seg, size),
        (size - 1, size),
        (size - 1234, size),
        (size - 1235, size - 1234),
        (4 * seg + 7, 4 * seg + 8),
    ]
    rng = random.Random(42)
    for _ in range(60):
        start = rng.randrange(size)
        cases.append((start, rng.randrange(start + 1, size + 1)))
    return cases


def test_decrypt_range_many_ranges(ranged: _Body) -> None:
    for start, end in _range_cases(len(ranged.plain)):
        ranged.calls.clear()
        assert ranged.decrypt(start, end) == ranged.plain[start:end], (start, end)
        span = c4gh.segment_range(start, end, len(ranged.body))
        # only the covering segments are read, and reads are contiguous
        assert ranged.calls[0][0] == span.cipher_start
        assert ranged.calls[-1][1] == span.cipher_end_inclusive
        assert all(a[1] + 1 == b[0] for a, b in zip(ranged.calls, ranged.calls[1:], strict=False))


@pytest.mark.parametrize("per_read", [1, 2, 100])
def test_iter_decrypt_range_batches(ranged: _Body, per_read: int) -> None:
    start, end = 65537, len(ranged.plain) - 3
    ranged.calls.clear()
    pieces = list(
        c4gh.iter_decrypt_range(
            ranged.read, [ranged.key], start, end, len(ranged.body), segments_per_read=per_read
        )
    )
    assert b"".join(pieces) == ranged.plain[start:end]
    segments = c4gh.segment_range(start, end).last_segment - (start // c4gh.SEGMENT_SIZE) + 1
    assert len(ranged.calls) == -(-segments // per_read)


def test_decrypt_range_last_short_segment_alone() -> None:
    body = _Body(os.urandom(65536 + 10))
    assert body.decrypt(65536, 65546) == body.plain[65536:]
    assert body.calls == [(65564, len(body.body) - 1)]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),
        (10, 10),
        (10, 5),
        (-1, 10),
        (0, 5 * 65536 + 1235),
        (5 * 65536 + 1234, 5 * 65536 + 1235),
    ],
)
def test_decrypt_range_invalid(ranged: _Body, start: int, end: int) -> None:
    ranged.calls.clear()
    with pytest.raises(ValueError):
        ranged.decrypt(start, end)
    assert ranged.calls == []


def test_decrypt_range_rejects_short_reads_and_bad_body_size(ranged: _Body) -> None:
    with pytest.raises(ValueError):
        c4gh.decrypt_range(lambda a, b: b"", [ranged.key], 0, 10, len(ranged.body))
    with pytest.raises(ValueError):
        c4gh.decrypt_range(ranged.read, [ranged.key], 0, 10, c4gh.CIPHER_SEGMENT_SIZE + 5)


def test_decrypt_range_detects_corruption(ranged: _Body) -> None:
    corrupt = bytearray(ranged.body)
    corrupt[2 * c4gh.CIPHER_SEGMENT_SIZE + 40] ^= 0xFF

    def read(start: int, end_inclusive: int) -> bytes:
        return bytes(corrupt[start : end_inclusive + 1])

    size = len(ranged.body)
    assert c4gh.decrypt_range(read, [ranged.key], 0, 2 * 65536, size) == ranged.plain[: 2 * 65536]
    with pytest.raises(c4gh.SegmentAuthError):
        c4gh.decrypt_range(read, [ranged.key], 2 * 65536 + 5, 2 * 65536 + 6, size)


def test_segment_range_values() -> None:
    cs = c4gh.CIPHER_SEGMENT_SIZE
    assert c4gh.segment_range(0, 1) == (0, 0, 0, cs - 1, 0)
    assert c4gh.segment_range(65535, 65537) == (0, 1, 0, 2 * cs - 1, 65535)
    assert c4gh.segment_range(65536, 65537) == (1, 1, cs, 2 * cs - 1, 0)
    assert c4gh.segment_range(131072, 131073) == (2, 2, 2 * cs, 3 * cs - 1, 0)
    # with a body size the end is clamped to the short last segment
    body = c4gh.encrypted_body_size(65536 + 10)
    span = c4gh.segment_range(65540, 65546, body)
    assert span == (1, 1, cs, body - 1, 4)
    assert span.cipher_length == 38
    assert span.http_range(124) == f"bytes={cs + 124}-{body - 1 + 124}"
    with pytest.raises(ValueError):
        c4gh.segment_range(0, 65547, body)
    with pytest.raises(ValueError):
        c4gh.segment_range(5, 5)
