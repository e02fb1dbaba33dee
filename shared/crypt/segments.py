"""Crypt4GH cipher segments with deterministic nonces, for uploads that can resume.

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

import hmac

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from shared.crypt.c4gh import CIPHER_DIFF, KEY_SIZE, NONCE_SIZE, SEGMENT_SIZE

Buffer = bytes | bytearray | memoryview
NONCE_LABEL = b"fs-connector segment nonce v2"


class SivSegmentEncryptor:
    """ChaCha20-Poly1305 segments with deterministic nonces bound to the plaintext so far.

    ``binding`` is P_i of the module docstring: the SHA-256 of the plaintext up to and
    including the segment (the caller keeps the running hash).
    """

    def __init__(self, session_key: bytes) -> None:
        if len(session_key) != KEY_SIZE:
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
