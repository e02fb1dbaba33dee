"""Encrypt a file on the fly into its upload parts, with the checksums closing needs.

The byte stream is the complete Crypt4GH file, header first, then cipher segments; it is
cut every ``part_size`` bytes, so segments straddle part boundaries (the 124-byte header
shifts them). One part at a time is built, so memory stays around one part.

Nonces are synthetic (deterministic) instead of random, so that re-encrypting a file with
the same session key after an interruption gives the same bytes for every unchanged
segment, and parts already in S3 need not be sent again:

    nonce_i = HMAC-SHA256(K_n, i as 8 bytes big-endian || P_i)[:12]
    P_i     = SHA-256(plaintext[0 : end of segment i])   (the running file hash, so far)
    K_n     = HMAC-SHA256(session key, "fs-connector segment nonce v2")

A nonce repeats only for the same segment index with the same plaintext up to and
including that segment, i.e. for the same encryption; a change anywhere before or in a
segment gives it a new nonce, so a (key, nonce) pair is never used for two different
plaintexts. P_i comes from the SHA-256 of the whole plaintext that closing needs anyway (a
copy of its state, finalised): binding each nonce to its own segment's hash instead (v1)
cost a second SHA-256 pass over the file, 14 % of the upload's CPU. The price is
locality: after a change, every later part is re-sent on resume, not only the changed
one. K_n is a separate key derived from the session key, so the session key is only ever
used by ChaCha20-Poly1305. Standard Crypt4GH readers do not care how nonces were chosen.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from connector.errors import TransferFailed
from connector.upload.plan import UploadPlan
from shared.crypt.c4gh import CIPHER_DIFF, CIPHER_SEGMENT_SIZE, SEGMENT_SIZE

Buffer = bytes | bytearray | memoryview
NONCE_LABEL = b"fs-connector segment nonce v2"
NONCE_SIZE = 12


class SivSegmentEncryptor:
    """ChaCha20-Poly1305 segments with deterministic nonces bound to the plaintext so far.

    ``binding`` is P_i of the module docstring: the SHA-256 of the plaintext up to and
    including the segment (``PartEncryptor`` keeps it).
    """

    def __init__(self, session_key: bytes) -> None:
        if len(session_key) != 32:
            raise ValueError("a session key has 32 bytes")
        self._aead = ChaCha20Poly1305(session_key)
        self._nonce_key = hmac.digest(session_key, NONCE_LABEL, "sha256")
        # encrypt_into (cryptography >= 45) writes in place: no allocation per segment
        self._into = getattr(self._aead, "encrypt_into", None)

    def nonce(self, index: int, binding: bytes) -> bytes:
        message = index.to_bytes(8, "big") + binding
        return hmac.digest(self._nonce_key, message, "sha256")[:NONCE_SIZE]

    def encrypt_segment(self, index: int, plain: Buffer, binding: bytes) -> bytes:
        """nonce + ciphertext + MAC of segment ``index`` (0-based), 1..65536 bytes."""
        out = bytearray(len(plain) + CIPHER_DIFF)
        self.encrypt_into(index, plain, memoryview(out), binding)
        return bytes(out)

    def encrypt_into(self, index: int, plain: Buffer, out: memoryview, binding: bytes) -> None:
        """Write segment ``index`` into ``out``, which has exactly len(plain) + 28 bytes."""
        size = len(plain)
        if not 0 < size <= SEGMENT_SIZE or len(out) != size + CIPHER_DIFF:
            raise ValueError(f"a segment has 1..{SEGMENT_SIZE} bytes, not {size}")
        nonce = self.nonce(index, binding)
        out[:NONCE_SIZE] = nonce
        if self._into is not None:
            self._into(nonce, plain, None, out[NONCE_SIZE:])
        else:  # older cryptography
            out[NONCE_SIZE:] = self._aead.encrypt(nonce, bytes(plain), None)


def _read_into(fileobj: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from the file; fewer bytes only at the end of the file."""
    filled = 0
    while filled < len(view):
        count = fileobj.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


class PartEncryptor:
    """Reads the plaintext in order and writes the upload parts one by one into buffers.

    Not thread-safe: call ``next_part`` from one thread at a time (the uploader runs it
    in a single worker thread). Hashes the plaintext on the way (``decrypted_sha256``).
    """

    def __init__(
        self, fileobj: BinaryIO, plan: UploadPlan, session_key: bytes, header: bytes
    ) -> None:
        self._file = fileobj
        self._plan = plan
        self._encryptor = SivSegmentEncryptor(session_key)
        self._carry = bytearray(header)  # bytes that belong at the start of the next part
        self._plain = bytearray(SEGMENT_SIZE)
        self._scratch = bytearray(CIPHER_SEGMENT_SIZE)
        self._segment = 0
        self._plain_left = plan.decrypted_size
        self._next = 1
        self._sha256 = hashlib.sha256()

    @property
    def decrypted_sha256(self) -> str:
        return self._sha256.hexdigest()

    def next_part(self, buffer: bytearray) -> tuple[int, memoryview] | None:
        """(part number, the part's bytes as a view of ``buffer``), or None after the last.

        ``buffer`` must hold at least one part (``plan.part_size`` bytes, or the file's
        whole encrypted size if that is smaller).
        """
        if self._next > self._plan.part_count:
            if self._file.read(1):
                raise TransferFailed("The file grew while it was being uploaded.")
            return None
        number = self._next
        length = self._plan.part_length(number)
        out = memoryview(buffer)[:length]
        position = len(self._carry)
        out[:position] = self._carry
        self._carry.clear()
        while position < length:
            want = min(SEGMENT_SIZE, self._plain_left)
            plain = memoryview(self._plain)[:want]
            if not want or _read_into(self._file, plain) < want:
                raise TransferFailed("The file shrank while it was being uploaded.")
            self._sha256.update(plain)
            binding = self._sha256.copy().digest()  # P_i: the plaintext so far
            self._plain_left -= want
            size = want + CIPHER_DIFF
            if position + size <= length:
                target = out[position : position + size]
                self._encryptor.encrypt_into(self._segment, plain, target, binding)
            else:  # the segment straddles the part boundary (the header shifts them all)
                scratch = memoryview(self._scratch)[:size]
                self._encryptor.encrypt_into(self._segment, plain, scratch, binding)
                fits = length - position
                out[position:] = scratch[:fits]
                self._carry += scratch[fits:]
            self._segment += 1
            position += size
        self._next += 1
        return number, out
