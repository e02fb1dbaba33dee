"""Crypt4GH streaming: headers, segments, sizes and ranged decryption.

One module for the connector (client CLI) and the services (interrogation, download), so it
imports only the standard library, ``crypt4gh``, ``cryptography`` and ``nacl``.

Why not just ``crypt4gh.lib``?

* Its per-segment path (libsodium through cffi with extra buffer copies) is several times
  slower than ``cryptography``'s ChaCha20-Poly1305; see ``bench/c4gh_speed.py``.
* It works on whole streams only; the services work upload part by upload part and need
  memory bounded by the part size.
* ``lib.decrypt(offset=...)`` of crypt4gh 1.8.6 returns wrong bytes for offsets >= 64 KiB,
  so ranged decryption is done here (seek to a segment boundary, decrypt whole segments).

Headers are still built and parsed with ``crypt4gh.header`` so that they stay byte-for-byte
the standard format that ``crypt4gh decrypt`` reads.

Format reminder: the body is a sequence of segments; each encrypts up to 65,536 plaintext
bytes as ``nonce (12) + ciphertext + MAC (16)``, so a full cipher segment has 65,564 bytes.
Only the last segment may be short, and there is never an empty segment (an empty file has
an empty body). Truncation exactly at a segment boundary is not detectable from the body
alone: compare with the expected size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, NamedTuple

from crypt4gh import header as c4gh_header
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.public import PrivateKey

from shared.multipart import MAX_PART_SIZE, MIN_PART_SIZE, round_up

SEGMENT_SIZE = 65536
NONCE_SIZE = 12
MAC_SIZE = 16
CIPHER_DIFF = NONCE_SIZE + MAC_SIZE  # 28
CIPHER_SEGMENT_SIZE = SEGMENT_SIZE + CIPHER_DIFF  # 65564
# multipart part sizes on cipher segment boundaries: S3's bounds rounded inwards
MIN_ALIGNED_PART_SIZE = round_up(MIN_PART_SIZE, CIPHER_SEGMENT_SIZE)  # 5,245,120
MAX_ALIGNED_PART_SIZE = MAX_PART_SIZE // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE  # 5,368,708,140
ENVELOPE_SIZE_ONE_RECIPIENT = 124
MAGIC = b"crypt4gh"
VERSION = 1
KEY_SIZE = 32
PREAMBLE_SIZE = 16  # magic (8) + version (4) + packet count (4)

# Sanity bound on header packets: a real header has one per recipient (plus an edit list).
MAX_HEADER_PACKETS = 1024
MAX_HEADER_PACKET_SIZE = 65536  # so a hostile length cannot make read_header read gigabytes
DEFAULT_SEGMENTS_PER_CHUNK = 16  # about 1 MiB per chunk


class HeaderError(ValueError):
    """The data does not start with a Crypt4GH header we can read with the given key."""


class HeaderTruncatedError(HeaderError):
    """The bytes given end before the header does; read more of the file and retry."""


class SegmentAuthError(ValueError):
    """A cipher segment did not authenticate with any session key (corrupt, truncated or
    encrypted with another key)."""


# --------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def encrypted_body_size(plain_size: int) -> int:
    """Size of the encrypted body (no header) for ``plain_size`` plaintext bytes.

    Every started segment costs CIPHER_DIFF bytes; an empty file has an empty body.
    """
    _check_size("plain_size", plain_size)
    segments = -(-plain_size // SEGMENT_SIZE)
    return plain_size + segments * CIPHER_DIFF


def encrypted_size(plain_size: int, header_size: int = ENVELOPE_SIZE_ONE_RECIPIENT) -> int:
    """Size of a whole Crypt4GH file: header plus encrypted body."""
    _check_size("header_size", header_size)
    return header_size + encrypted_body_size(plain_size)


def plain_size_of_body(body_size: int) -> int:
    """Plaintext size of an encrypted body of ``body_size`` bytes.

    Raises ValueError if no plaintext encrypts to that size (a trailing piece of at most
    CIPHER_DIFF bytes cannot be a segment), which reveals a truncated or padded body.
    """
    _check_size("body_size", body_size)
    full, rest = divmod(body_size, CIPHER_SEGMENT_SIZE)
    if rest == 0:
        return full * SEGMENT_SIZE
    if rest <= CIPHER_DIFF:
        raise ValueError(
            f"an encrypted body of {body_size} bytes is impossible: its last segment would "
            f"have {rest} bytes, and a segment has more than {CIPHER_DIFF}"
        )
    return full * SEGMENT_SIZE + rest - CIPHER_DIFF


# --------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------


def _check_key(name: str, key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        raise ValueError(f"{name} must be {KEY_SIZE} raw bytes")
    return bytes(key)


def is_crypt4gh(first_bytes: bytes) -> bool:
    """True if the bytes start like a Crypt4GH version 1 file (magic and version).

    Cheap check for the first 12+ bytes of an upload, before any key is involved.
    """
    if len(first_bytes) < 12:
        return False
    return (
        bytes(first_bytes[:8]) == MAGIC and int.from_bytes(first_bytes[8:12], "little") == VERSION
    )


def _scan_header(read: Callable[[int], bytes]) -> bytes:
    """Read exactly the header bytes through ``read(n)`` and return them.

    Walks the preamble and packet lengths only (no crypto), so it can tell "not Crypt4GH"
    apart from "need more bytes".
    """
    preamble = read(PREAMBLE_SIZE)
    if not MAGIC.startswith(preamble[:8]):
        raise HeaderError("not a Crypt4GH file (wrong magic bytes)")
    if len(preamble) < PREAMBLE_SIZE:
        raise HeaderTruncatedError(f"header truncated: {len(preamble)} of 16 preamble bytes")
    version = int.from_bytes(preamble[8:12], "little")
    if version != VERSION:
        raise HeaderError(f"unsupported Crypt4GH version {version}")
    count = int.from_bytes(preamble[12:16], "little")
    if count == 0:
        raise HeaderError("Crypt4GH header without packets")
    if count > MAX_HEADER_PACKETS:
        raise HeaderError(f"Crypt4GH header claims {count} packets, too many")
    parts = [preamble]
    for index in range(count):
        length_bytes = read(4)
        if len(length_bytes) < 4:
            raise HeaderTruncatedError(f"header truncated in the length of packet {index}")
        length = int.from_bytes(length_bytes, "little")
        if not 8 <= length <= MAX_HEADER_PACKET_SIZE:  # length field + method, at least
            raise HeaderError(f"invalid length {length} of header packet {index}")
        packet = read(length - 4)
        if len(packet) < length - 4:
            raise HeaderTruncatedError(f"header truncated in packet {index}")
        parts += [length_bytes, packet]
    return b"".join(parts)


def header_length(data: bytes) -> int:
    """Length of the header at the start of ``data``, without decrypting anything.

    Raises HeaderTruncatedError if ``data`` ends inside the header, HeaderError if it is
    not a Crypt4GH header.
    """
    return len(_scan_header(io.BytesIO(data).read))


def _session_keys_from_header(header_bytes: bytes, reader_private_key: bytes) -> list[bytes]:
    reader = _check_key("reader_private_key", reader_private_key)
    keys = [(0, reader, None)]
    try:
        packets = list(c4gh_header.parse(io.BytesIO(header_bytes)))
        decrypted, _ = c4gh_header.decrypt(packets, keys)
    except ValueError as error:
        raise HeaderError(f"invalid Crypt4GH header: {error}") from error
    if not decrypted:
        raise HeaderError("the Crypt4GH header cannot be decrypted with this key")
    try:
        data_packets, edit_list = c4gh_header.partition_packets(decrypted)
        session_keys = [bytes(c4gh_header.parse_enc_packet(p)) for p in data_packets]
    except ValueError as error:
        raise HeaderError(f"unsupported Crypt4GH header packet: {error}") from error
    if edit_list is not None:
        # An edit list changes which plaintext bytes are visible; nothing here honours it,
        # so refuse rather than return bytes the standard tool would not.
        raise HeaderError("Crypt4GH edit lists are not supported")
    if not session_keys:
        raise HeaderError("no session key found in the Crypt4GH header for this key")
    if any(len(key) != KEY_SIZE for key in session_keys):
        raise HeaderError("a session key in the Crypt4GH header does not have 32 bytes")
    return session_keys


def parse_header(data: bytes, reader_private_key: bytes) -> tuple[list[bytes], int]:
    """Decrypt the header at the start of ``data``: (session keys, header length).

    ``data`` may extend past the header (e.g. the first part of an upload). Raises
    HeaderError if it is not Crypt4GH, is truncated (HeaderTruncatedError), cannot be
    decrypted with ``reader_private_key``, or has an edit list.
    """
    header_bytes = _scan_header(io.BytesIO(data).read)
    return _session_keys_from_header(header_bytes, reader_private_key), len(header_bytes)


def read_header(fileobj: BinaryIO, reader_private_key: bytes) -> tuple[list[bytes], int]:
    """Like parse_header, but reads exactly the header from a stream.

    Leaves ``fileobj`` at the start of the body, ready for iter_decrypt.
    """
    header_bytes = _scan_header(lambda size: _read_exact(fileobj, size))
    return _session_keys_from_header(header_bytes, reader_private_key), len(header_bytes)


def make_header(
    session_key: bytes, writer_private_key: bytes, recipient_public_key: bytes
) -> bytes:
    """A standard one-recipient Crypt4GH header (124 bytes) holding ``session_key``.

    Built exactly as crypt4gh.lib.encrypt builds it, so ``crypt4gh decrypt`` reads it.
    """
    session_key = _check_key("session_key", session_key)
    writer = _check_key("writer_private_key", writer_private_key)
    recipient = _check_key("recipient_public_key", recipient_public_key)
    packet = c4gh_header.make_packet_data_enc(0, session_key)
    packets = c4gh_header.encrypt(packet, [(0, writer, recipient)])
    return c4gh_header.serialize(packets)


def reencrypt_header(
    data: bytes,
    reader_private_key: bytes,
    recipient_public_key: bytes,
    writer_private_key: bytes | None = None,
) -> bytes:
    """A new header for ``recipient_public_key`` with the session keys of the header at the
    start of ``data``; the body stays as it is.

    This is how a download hands a file to a user without re-encrypting the body. A fresh
    random writer key is used unless ``writer_private_key`` is given.
    """
    session_keys, _ = parse_header(data, reader_private_key)
    recipient = _check_key("recipient_public_key", recipient_public_key)
    if writer_private_key is None:
        writer = bytes(PrivateKey.generate())
    else:
        writer = _check_key("writer_private_key", writer_private_key)
    packets = [
        encrypted
        for key in session_keys
        for encrypted in c4gh_header.encrypt(
            c4gh_header.make_packet_data_enc(0, key), [(0, writer, recipient)]
        )
    ]
    return c4gh_header.serialize(packets)


def new_session_key() -> bytes:
    """A fresh random 32-byte data key (one per file)."""
    return os.urandom(KEY_SIZE)


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------


class SegmentEncryptor:
    """Encrypts plaintext segments with one session key (ChaCha20-IETF-Poly1305).

    Each segment gets a fresh random 12-byte nonce, as crypt4gh does.
    """

    def __init__(self, session_key: bytes) -> None:
        self._aead = ChaCha20Poly1305(_check_key("session_key", session_key))

    def encrypt_segment(self, plain: bytes | bytearray | memoryview) -> bytes:
        """nonce + ciphertext + MAC for 1..65536 plaintext bytes."""
        if not 0 < len(plain) <= SEGMENT_SIZE:
            raise ValueError(f"a segment has 1..{SEGMENT_SIZE} plaintext bytes, not {len(plain)}")
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plain, None)

    def encrypt_stream(
        self, chunks: Iterable[bytes], segments_per_chunk: int = 1
    ) -> Iterator[bytes]:
        """Encrypt plaintext chunks of any sizes; yield whole cipher segments.

        Chunks are regrouped into 64 KiB segments (only the last is short) and yielded in
        groups of ``segments_per_chunk`` segments, so every yielded piece but the last is
        exactly ``segments_per_chunk * CIPHER_SEGMENT_SIZE`` bytes. Memory stays around one
        group plus one input chunk.
        """
        _check_group(segments_per_chunk)
        buffer = bytearray()
        out: list[bytes] = []
        for chunk in chunks:
            buffer += chunk
            if len(buffer) < SEGMENT_SIZE:
                continue
            view = memoryview(buffer)
            used = 0
            while len(buffer) - used >= SEGMENT_SIZE:
                out.append(self.encrypt_segment(view[used : used + SEGMENT_SIZE]))
                used += SEGMENT_SIZE
                if len(out) == segments_per_chunk:
                    yield b"".join(out)
                    out = []
            view.release()
            del buffer[:used]
        if buffer:
            out.append(self.encrypt_segment(buffer))
        if out:
            yield b"".join(out)


class SegmentDecryptor:
    """Decrypts cipher segments, trying each session key (a header may carry several)."""

    def __init__(self, session_keys: Sequence[bytes]) -> None:
        if isinstance(session_keys, bytes | bytearray):
            raise TypeError("session_keys is a list of keys, not one key")
        if not session_keys:
            raise ValueError("at least one session key is needed")
        self._aeads = [ChaCha20Poly1305(_check_key("session key", k)) for k in session_keys]

    def decrypt_segment(self, cipher: bytes | bytearray | memoryview) -> bytes:
        """Plaintext of one cipher segment; SegmentAuthError if no key authenticates it."""
        if not CIPHER_DIFF < len(cipher) <= CIPHER_SEGMENT_SIZE:
            raise SegmentAuthError(
                f"a cipher segment has {CIPHER_DIFF + 1}..{CIPHER_SEGMENT_SIZE} bytes, "
                f"not {len(cipher)} (truncated or misaligned data)"
            )
        view = memoryview(cipher)
        nonce, body = view[:NONCE_SIZE], view[NONCE_SIZE:]
        for aead in self._aeads:
            try:
                return aead.decrypt(nonce, body, None)
            except InvalidTag:
                continue
        raise SegmentAuthError("cipher segment does not authenticate with any session key")


def _check_group(segments_per_chunk: int) -> None:
    if not isinstance(segments_per_chunk, int) or segments_per_chunk < 1:
        raise ValueError("segments_per_chunk must be a positive int")


def encrypt_body(plain: bytes | bytearray | memoryview, session_key: bytes) -> bytes:
    """Encrypt a buffer into whole segments (the last one may be short).

    For a part of a file, ``plain`` must start on a segment boundary and, unless it is the
    last part, hold a whole number of segments.
    """
    encryptor = SegmentEncryptor(session_key)
    view = memoryview(plain)
    return b"".join(
        encryptor.encrypt_segment(view[start : start + SEGMENT_SIZE])
        for start in range(0, len(view), SEGMENT_SIZE)
    )


def decrypt_body(
    cipher: bytes | bytearray | memoryview,
    session_keys: Sequence[bytes] | SegmentDecryptor,
) -> bytes:
    """Decrypt a buffer of whole cipher segments (the last one may be short).

    Lets callers check or decrypt an upload part by part with memory bounded by the part
    size. Raises SegmentAuthError on any segment that does not authenticate.
    """
    decryptor = _decryptor(session_keys)
    view = memoryview(cipher)
    return b"".join(
        decryptor.decrypt_segment(view[start : start + CIPHER_SEGMENT_SIZE])
        for start in range(0, len(view), CIPHER_SEGMENT_SIZE)
    )


def _decryptor(session_keys: Sequence[bytes] | SegmentDecryptor) -> SegmentDecryptor:
    if isinstance(session_keys, SegmentDecryptor):
        return session_keys
    return SegmentDecryptor(session_keys)


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


def _read_exact(fileobj: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of stream (pipes and sockets return short
    reads; a short segment in the middle would make a file no reader can decrypt)."""
    data = fileobj.read(size)
    if data is None:
        data = b""
    if len(data) == size or not data:
        return data
    pieces = [data]
    missing = size - len(data)
    while missing:
        more = fileobj.read(missing)
        if not more:
            break
        pieces.append(more)
        missing -= len(more)
    return b"".join(pieces)


def iter_encrypt_file(
    fileobj: BinaryIO,
    session_key: bytes,
    segments_per_chunk: int = DEFAULT_SEGMENTS_PER_CHUNK,
) -> Iterator[bytes]:
    """Encrypt a plaintext stream; yield chunks of ``segments_per_chunk`` cipher segments.

    Every chunk but the last has exactly ``segments_per_chunk * CIPHER_SEGMENT_SIZE`` bytes,
    so with segments_per_chunk = part_size / CIPHER_SEGMENT_SIZE each chunk is one upload part
    starting on a segment boundary. The header is not included (see make_header).
    """
    _check_group(segments_per_chunk)
    encryptor = SegmentEncryptor(session_key)
    while True:
        out = []
        for _ in range(segments_per_chunk):
            plain = _read_exact(fileobj, SEGMENT_SIZE)
            if plain:
                out.append(encryptor.encrypt_segment(plain))
            if len(plain) < SEGMENT_SIZE:
                break
        if out:
            yield b"".join(out)
        if len(out) < segments_per_chunk or len(plain) < SEGMENT_SIZE:
            return


def iter_decrypt(
    fileobj_body: BinaryIO,
    session_keys: Sequence[bytes] | SegmentDecryptor,
    segments_per_chunk: int = DEFAULT_SEGMENTS_PER_CHUNK,
) -> Iterator[bytes]:
    """Decrypt an encrypted body stream (positioned after the header); yield plaintext.

    Reads ``segments_per_chunk`` cipher segments at a time, so memory is bounded by that.
    Raises SegmentAuthError on a corrupt segment or a truncated last segment.
    """
    _check_group(segments_per_chunk)
    decryptor = _decryptor(session_keys)
    size = segments_per_chunk * CIPHER_SEGMENT_SIZE
    while True:
        cipher = _read_exact(fileobj_body, size)
        if cipher:
            yield decrypt_body(cipher, decryptor)
        if len(cipher) < size:
            return


# --------------------------------------------------------------------------------------------
# Ranges
# --------------------------------------------------------------------------------------------


class SegmentSpan(NamedTuple):
    """The whole cipher segments covering a plaintext range.

    Cipher offsets are relative to the body start (add the header length for a file
    offset); ``cipher_end_inclusive`` is inclusive, like an HTTP ``Range: bytes=a-b``.
    """

    first_segment: int
    last_segment: int
    cipher_start: int
    cipher_end_inclusive: int
    skip: int  # plaintext bytes to drop from the start of the first decrypted segment

    @property
    def cipher_length(self) -> int:
        return self.cipher_end_inclusive - self.cipher_start + 1

    def http_range(self, header_size: int = 0) -> str:
        """``bytes=a-b`` for a file whose body starts after ``header_size`` bytes."""
        start = header_size + self.cipher_start
        return f"bytes={start}-{header_size + self.cipher_end_inclusive}"


def segment_range(
    plain_start: int, plain_end_exclusive: int, body_size: int | None = None
) -> SegmentSpan:
    """Map plaintext ``[plain_start, plain_end_exclusive)`` to the covering cipher segments.

    Without ``body_size`` the end is that of a full last segment, which may lie past the end
    of the body (HTTP servers clamp that). With ``body_size`` the end is clamped and the range
    is checked against the plaintext size. Raises ValueError for empty or invalid ranges.
    """
    _check_size("plain_start", plain_start)
    _check_size("plain_end_exclusive", plain_end_exclusive)
    if plain_end_exclusive <= plain_start:
        raise ValueError(f"empty or reversed range [{plain_start}, {plain_end_exclusive})")
    if body_size is not None:
        plain_size = plain_size_of_body(body_size)
        if plain_end_exclusive > plain_size:
            raise ValueError(
                f"range [{plain_start}, {plain_end_exclusive}) ends past the plaintext "
                f"size {plain_size}"
            )
    first = plain_start // SEGMENT_SIZE
    last = (plain_end_exclusive - 1) // SEGMENT_SIZE
    cipher_end = (last + 1) * CIPHER_SEGMENT_SIZE
    if body_size is not None:
        cipher_end = min(cipher_end, body_size)
    return SegmentSpan(
        first_segment=first,
        last_segment=last,
        cipher_start=first * CIPHER_SEGMENT_SIZE,
        cipher_end_inclusive=cipher_end - 1,
        skip=plain_start - first * SEGMENT_SIZE,
    )


def iter_decrypt_range(
    read_cipher: Callable[[int, int], bytes],
    session_keys: Sequence[bytes] | SegmentDecryptor,
    plain_start: int,
    plain_end_exclusive: int,
    body_size: int,
    segments_per_read: int = DEFAULT_SEGMENTS_PER_CHUNK,
) -> Iterator[bytes]:
    """Decrypt plaintext ``[plain_start, plain_end_exclusive)``, yielding it piece by piece.

    ``read_cipher(start, end_inclusive)`` must return the body bytes from ``start`` to
    ``end_inclusive`` (both relative to the body start, inclusive end like an HTTP Range
    header). It is called once per ``segments_per_read`` segments, so memory stays bounded
    for long ranges. ``body_size`` is the encrypted body size (file size minus header).
    """
    _check_group(segments_per_read)
    span = segment_range(plain_start, plain_end_exclusive, body_size)
    decryptor = _decryptor(session_keys)
    for segment in range(span.first_segment, span.last_segment + 1, segments_per_read):
        cipher_start = segment * CIPHER_SEGMENT_SIZE
        cipher_end = min(
            (segment + segments_per_read) * CIPHER_SEGMENT_SIZE, span.cipher_end_inclusive + 1
        )
        cipher = read_cipher(cipher_start, cipher_end - 1)
        if len(cipher) != cipher_end - cipher_start:
            raise ValueError(
                f"read_cipher({cipher_start}, {cipher_end - 1}) returned {len(cipher)} bytes, "
                f"expected {cipher_end - cipher_start}"
            )
        plain = decrypt_body(cipher, decryptor)
        offset = segment * SEGMENT_SIZE  # plaintext offset of this batch
        lo = max(plain_start - offset, 0)
        hi = min(plain_end_exclusive - offset, len(plain))
        if lo == 0 and hi == len(plain):
            yield plain
        else:
            yield plain[lo:hi]


def decrypt_range(
    read_cipher: Callable[[int, int], bytes],
    session_keys: Sequence[bytes] | SegmentDecryptor,
    plain_start: int,
    plain_end_exclusive: int,
    body_size: int,
) -> bytes:
    """Exactly the plaintext bytes ``[plain_start, plain_end_exclusive)`` of a body.

    Reads only the covering whole segments through ``read_cipher(start, end_inclusive)``
    (offsets relative to the body start, inclusive end as in HTTP ranges). Replaces
    crypt4gh.lib.decrypt(offset=...), which is wrong from 64 KiB on. Raises ValueError for
    an empty, reversed or out-of-bounds range, SegmentAuthError for corrupt data.
    """
    return b"".join(
        iter_decrypt_range(read_cipher, session_keys, plain_start, plain_end_exclusive, body_size)
    )


__all__ = [
    "CIPHER_DIFF",
    "CIPHER_SEGMENT_SIZE",
    "ENVELOPE_SIZE_ONE_RECIPIENT",
    "MAGIC",
    "SEGMENT_SIZE",
    "HeaderError",
    "HeaderTruncatedError",
    "SegmentAuthError",
    "SegmentDecryptor",
    "SegmentEncryptor",
    "SegmentSpan",
    "decrypt_body",
    "decrypt_range",
    "encrypt_body",
    "encrypted_body_size",
    "encrypted_size",
    "header_length",
    "is_crypt4gh",
    "iter_decrypt",
    "iter_decrypt_range",
    "iter_encrypt_file",
    "make_header",
    "new_session_key",
    "parse_header",
    "plain_size_of_body",
    "read_header",
    "reencrypt_header",
    "segment_range",
]
