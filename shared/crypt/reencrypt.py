"""The pure streaming transform of interrogation: one staged part at a time.

A staged part is a run of whole cipher segments of the uploaded body. Each segment is
decrypted with the submitter's secret (which authenticates it), its plaintext goes into the
running SHA-256 of the file, and it is encrypted again with the archive's new secret. The
result has the same size as the input, so staged parts line up with segments.

Nonce scheme (segment_nonce): nonces are derived, not drawn. The nonce of body segment i is
HMAC-SHA256(new secret, NONCE_LABEL + i as 8 bytes big-endian)[:12], keyed by the file's new
secret. The new secret is fresh for every file and i is distinct for every segment of it, so
no (key, nonce) pair repeats; and a part that is redone after a crash comes out byte for
byte the same as the first time, so a resumed interrogation stages identical bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from shared.crypt.c4gh import CIPHER_DIFF, CIPHER_SEGMENT_SIZE, NONCE_SIZE, SEGMENT_SIZE
from shared.crypt.resumable_sha256 import ResumableSha256

NONCE_LABEL = b"fs-irs-nonce"


class SegmentDamaged(ValueError):
    """A cipher segment did not authenticate with the submitter's secret."""

    def __init__(self, index: int) -> None:
        super().__init__(f"segment {index} failed authentication")
        self.index = index  # 0-based, counted over the whole body


@dataclass(frozen=True)
class StagedChunk:
    """A re-encrypted part; its checksums are taken beside its upload, by the caller."""

    data: bytearray  # not copied into bytes: a part is up to tens of MiB
    plain_size: int


def segment_nonce(new_secret: bytes, index: int) -> bytes:
    """The nonce of body segment ``index`` (the scheme is in the module's docstring)."""
    message = NONCE_LABEL + index.to_bytes(8, "big")
    return hmac.new(new_secret, message, hashlib.sha256).digest()[:NONCE_SIZE]


class Reencryptor:
    def __init__(self, submitter_secret: bytes, new_secret: bytes) -> None:
        self._open = ChaCha20Poly1305(submitter_secret)
        self._seal = ChaCha20Poly1305(new_secret)
        self._new_secret = new_secret

    def part(
        self, cipher: bytes | memoryview, first_segment: int, plain_hash: ResumableSha256
    ) -> StagedChunk:
        """Re-encrypt whole segments starting at body segment ``first_segment``.

        Raises SegmentDamaged for a segment that does not authenticate, including a last
        segment cut short.
        """
        view = memoryview(cipher)
        out = bytearray(len(view))
        target = memoryview(out)
        scratch = memoryview(bytearray(SEGMENT_SIZE))  # one segment's plaintext, reused
        plain_size = 0
        for position in range(0, len(view), CIPHER_SEGMENT_SIZE):
            index = first_segment + position // CIPHER_SEGMENT_SIZE
            segment = view[position : position + CIPHER_SEGMENT_SIZE]
            if len(segment) <= CIPHER_DIFF:
                raise SegmentDamaged(index)
            plain = scratch[: len(segment) - CIPHER_DIFF]
            try:
                self._open.decrypt_into(segment[:NONCE_SIZE], segment[NONCE_SIZE:], None, plain)
            except InvalidTag as error:
                raise SegmentDamaged(index) from error
            plain_hash.update(plain)
            plain_size += len(plain)
            nonce = segment_nonce(self._new_secret, index)
            end = position + len(segment)
            target[position : position + NONCE_SIZE] = nonce
            self._seal.encrypt_into(nonce, plain, None, target[position + NONCE_SIZE : end])
        return StagedChunk(data=out, plain_size=plain_size)
