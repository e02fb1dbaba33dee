"""Decrypt and hash a Crypt4GH body as a stream: for checking a download, and for decrypting.

Memory stays at a few fixed buffers (16 segments each) whatever the file size. The session
keys come from the header through shared.crypt.c4gh; segments are opened with
``cryptography``'s ChaCha20-Poly1305 straight into a reused buffer (no allocation per
segment), which is several times faster than crypt4gh's own path. Reading can wait for
bytes that are still being downloaded, so the check runs while ranges arrive.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from shared.crypt.c4gh import (
    CIPHER_DIFF,
    CIPHER_SEGMENT_SIZE,
    NONCE_SIZE,
    SEGMENT_SIZE,
    SegmentAuthError,
    plain_size_of_body,
)

SEGMENTS_PER_READ = 16  # about 1 MiB


class SessionDecryptor:
    """Opens cipher segments with the session keys of a header (most files have one)."""

    def __init__(self, session_keys: Sequence[bytes]) -> None:
        if not session_keys:
            raise ValueError("at least one session key is needed")
        # a tuple, replaced whole: several threads may decrypt with it at once
        self._aeads = tuple(ChaCha20Poly1305(bytes(key)) for key in session_keys)
        self._into = all(hasattr(aead, "decrypt_into") for aead in self._aeads)

    def decrypt_into(self, cipher: memoryview, out: memoryview, index: int) -> int:
        """Decrypt segment number ``index`` into the start of ``out``; its plaintext size."""
        size = len(cipher) - CIPHER_DIFF
        if not 0 < size <= SEGMENT_SIZE:
            raise SegmentAuthError(f"segment {index} is truncated")
        nonce, body = cipher[:NONCE_SIZE], cipher[NONCE_SIZE:]
        aeads = self._aeads
        for number, aead in enumerate(aeads):
            try:
                if self._into:
                    aead.decrypt_into(nonce, body, None, out[:size])
                else:  # older cryptography
                    out[:size] = aead.decrypt(bytes(nonce), bytes(body), None)
            except InvalidTag:
                continue
            if number:  # the next segment most likely uses the same key: try it first
                self._aeads = (aead, *aeads[:number], *aeads[number + 1 :])
            return size
        raise SegmentAuthError(f"segment {index} does not decrypt: the data is damaged")


def file_reader(handle: BinaryIO, base: int) -> Callable[[int, memoryview], None]:
    """``read(offset, view)`` filling ``view`` from ``base + offset`` of an open file."""

    def read(offset: int, view: memoryview) -> None:
        handle.seek(base + offset)
        filled = 0
        while filled < len(view):
            count = handle.readinto(view[filled:])
            if not count:
                raise SegmentAuthError("the file ends before its last segment (truncated)")
            filled += count

    return read


class BackgroundWriter:
    """Writes plaintext pieces in order on a thread of its own, so that decryption goes on
    meanwhile (writing is as slow as decrypting). At most ``depth`` writes are pending when
    a call returns: a caller rotating ``depth + 1`` buffers never overwrites one in use."""

    def __init__(self, handle: BinaryIO, depth: int = 2) -> None:
        self.depth = depth
        self._handle = handle
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fs-plain")
        self._pending: deque[Future] = deque()

    def __call__(self, piece: memoryview) -> None:
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._handle.write, piece))

    def close(self) -> None:
        """Wait for every write (raising the first failure) and stop the thread."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def decrypt_stream(
    read: Callable[[int, memoryview], None],
    body_size: int,
    decryptor: SessionDecryptor,
    sink: Callable[[memoryview], object] | None = None,
    wait: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    buffers: int = 1,
) -> str:
    """Decrypt body bytes [0, body_size) in order; return the plaintext's sha256 (hex).

    ``read(offset, view)`` fills ``view`` with body bytes from ``offset``; ``wait(end)``
    (if given) blocks until body bytes up to ``end`` may be read; ``sink`` receives the
    plaintext piece by piece, in one of ``buffers`` buffers used in turn (a BackgroundWriter
    of depth d needs d + 1). SegmentAuthError if any segment is damaged or missing.
    """
    try:
        plain_size_of_body(body_size)
    except ValueError:
        raise SegmentAuthError(f"no Crypt4GH body has {body_size} bytes (truncated)") from None
    chunk = SEGMENTS_PER_READ * CIPHER_SEGMENT_SIZE
    cipher = memoryview(bytearray(min(chunk, body_size)))
    plain_size = min(SEGMENTS_PER_READ * SEGMENT_SIZE, body_size)
    plains = [memoryview(bytearray(plain_size)) for _ in range(max(1, buffers))]
    digest = hashlib.sha256()
    for number, offset in enumerate(range(0, body_size, chunk)):
        length = min(chunk, body_size - offset)
        if wait is not None:
            wait(offset + length)
        view = cipher[:length]
        read(offset, view)
        plain = plains[number % len(plains)]
        produced = 0
        for start in range(0, length, CIPHER_SEGMENT_SIZE):
            produced += decryptor.decrypt_into(
                view[start : start + CIPHER_SEGMENT_SIZE],
                plain[produced:],
                (offset + start) // CIPHER_SEGMENT_SIZE,
            )
        digest.update(plain[:produced])
        if sink is not None:
            sink(plain[:produced])
        if on_progress is not None:
            on_progress(length)
    return digest.hexdigest()
