"""CPU ceilings: the cryptographic work a file needs, in memory, on one core, no network.

Why: a client or IRS cannot be faster than the work every byte needs (per byte of an
upload: encrypt, hash the plaintext, md5 and sha256 of each part; of a download: decrypt
and hash the plaintext; of an interrogation: sha256 of each uploaded part, checked against
the declared one, decrypt, hash, re-encrypt, md5 and sha256 of each staged part).
Measured with the fastest primitives there are (ChaCha20-Poly1305 of ``cryptography``, in
place; hashlib), part by part, so memory is one part whatever the size. A program that uses
both cores can beat a one-core ceiling.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from shared.crypt.c4gh import CIPHER_DIFF, CIPHER_SEGMENT_SIZE, NONCE_SIZE, SEGMENT_SIZE


def _parts(size: int, part_plain: int) -> list[int]:
    """Plaintext bytes of each part of a file of ``size`` bytes."""
    full, rest = divmod(size, part_plain)
    return [part_plain] * full + ([rest] if rest else [])


def _segments(length: int) -> range:
    return range(0, length, SEGMENT_SIZE)


class _Work:
    """A part's plaintext and its cipher image, made once (not timed)."""

    def __init__(self, part_plain: int) -> None:
        self.plain = memoryview(os.urandom(part_plain))
        self.key, self.other = os.urandom(32), os.urandom(32)
        self.aead, self.reseal = ChaCha20Poly1305(self.key), ChaCha20Poly1305(self.other)
        self.nonce = os.urandom(NONCE_SIZE)
        cipher = bytearray()
        for start in _segments(part_plain):
            segment = self.plain[start : start + SEGMENT_SIZE]
            cipher += self.nonce + self.aead.encrypt(self.nonce, segment, None)
        self.cipher = memoryview(bytes(cipher))
        self.out = memoryview(bytearray(len(cipher)))
        self.scratch = memoryview(bytearray(SEGMENT_SIZE))


def _encrypt(work: _Work, plain_len: int, plain_hash: hashlib._Hash) -> int:
    """Encrypt ``plain_len`` bytes of the part into ``work.out``; cipher length."""
    position = 0
    for start in _segments(plain_len):
        segment = work.plain[start : min(start + SEGMENT_SIZE, plain_len)]
        plain_hash.update(segment)
        size = len(segment) + CIPHER_DIFF
        work.out[position : position + NONCE_SIZE] = work.nonce
        work.aead.encrypt_into(
            work.nonce, segment, None, work.out[position + NONCE_SIZE : position + size]
        )
        position += size
    return position


def upload_ceiling(size: int, part_plain: int) -> float:
    """Seconds to encrypt ``size`` bytes and compute every checksum closing needs."""
    work = _Work(part_plain)
    started = time.perf_counter()
    plain_hash = hashlib.sha256()
    for length in _parts(size, part_plain):
        cipher_len = _encrypt(work, length, plain_hash)
        hashlib.md5(work.out[:cipher_len], usedforsecurity=False).digest()
        hashlib.sha256(work.out[:cipher_len]).digest()
    plain_hash.digest()
    return time.perf_counter() - started


def _open_segments(work: _Work, cipher_len: int, each: Callable[[memoryview], None]) -> None:
    for start in range(0, cipher_len, CIPHER_SEGMENT_SIZE):
        segment = work.cipher[start : min(start + CIPHER_SEGMENT_SIZE, cipher_len)]
        plain = work.scratch[: len(segment) - CIPHER_DIFF]
        work.aead.decrypt_into(segment[:NONCE_SIZE], segment[NONCE_SIZE:], None, plain)
        each(plain)


def download_ceiling(size: int, part_plain: int) -> float:
    """Seconds to decrypt ``size`` bytes and hash the plaintext (verification)."""
    work = _Work(part_plain)
    started = time.perf_counter()
    plain_hash = hashlib.sha256()
    for length in _parts(size, part_plain):
        _open_segments(work, length + CIPHER_DIFF * len(_segments(length)), plain_hash.update)
    plain_hash.digest()
    return time.perf_counter() - started


def irs_ceiling(size: int, part_plain: int) -> float:
    """Wall seconds of ``irs_ceiling_cpu``'s work (on a quiet machine, its CPU seconds)."""
    return irs_ceiling_cpu(size, part_plain)[0]


def irs_ceiling_cpu(size: int, part_plain: int) -> tuple[float, float]:
    """Seconds to check the declared sha256 of each uploaded part, decrypt, hash and
    re-encrypt ``size`` bytes, and checksum each staged part (md5 for the ETag, sha256).
    Uploaded and staged parts are taken to be of one size, as in the benchmark; IRS's
    deterministic nonces (an HMAC per segment) are its own choice, not in the ceiling.
    Returns (wall seconds, CPU seconds of this thread): under load only the second is the
    ceiling's own, and IRS's CPU seconds are set against it."""
    work = _Work(part_plain)
    started, cpu_started = time.perf_counter(), time.thread_time()
    plain_hash = hashlib.sha256()
    for length in _parts(size, part_plain):
        cipher_len = length + CIPHER_DIFF * len(_segments(length))
        hashlib.sha256(work.cipher[:cipher_len]).digest()  # the declared part sha256
        position = 0

        def reseal(plain: memoryview) -> None:
            nonlocal position
            plain_hash.update(plain)
            end = position + len(plain) + CIPHER_DIFF
            work.out[position : position + NONCE_SIZE] = work.nonce
            work.reseal.encrypt_into(work.nonce, plain, None, work.out[position + NONCE_SIZE : end])
            position = end

        _open_segments(work, cipher_len, reseal)
        hashlib.md5(work.out[:cipher_len], usedforsecurity=False).digest()
        hashlib.sha256(work.out[:cipher_len]).digest()
    plain_hash.digest()
    return time.perf_counter() - started, time.thread_time() - cpu_started
