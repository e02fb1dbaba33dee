"""The wrapping of a submitter secret under the file's new secret, kept between invocations.

EKSS creates the new secret once (POST /secrets) and keeps only that one. An interrogation
that continues in a later invocation needs both secrets again: the new one comes back from
EKSS inside an envelope for a throw-away key pair, and the submitter's secret comes from the
IRS record, where it is stored only encrypted under a key derived from the new secret. So
the record alone reveals nothing, and EKSS needs no extra route.

Nonce scheme: the wrapping key is HMAC-SHA256(new secret, WRAP_LABEL), one key per file;
its nonce is 12 random bytes drawn per wrap. A file's secret is wrapped once (on its first
turn), so a key sees a handful of nonces at most and a random one never repeats in practice.
The context (the record it belongs to) is the associated data: a wrapped secret copied into
another record does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

WRAP_LABEL = b"fs-irs-wrap-submitter-secret"
_NONCE_SIZE = 12


class UnwrapError(ValueError):
    """The wrapped secret does not open with this new secret and context."""


def _wrapping_key(new_secret: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hmac.new(new_secret, WRAP_LABEL, hashlib.sha256).digest())


def wrap_secret(submitter_secret: bytes, new_secret: bytes, context: bytes) -> str:
    """The submitter secret sealed under the new secret, base64 (nonce + ciphertext)."""
    nonce = os.urandom(_NONCE_SIZE)
    sealed = _wrapping_key(new_secret).encrypt(nonce, submitter_secret, context)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unwrap_secret(wrapped: str, new_secret: bytes, context: bytes) -> bytes:
    """The submitter secret back; UnwrapError if another secret or context is given."""
    raw = base64.b64decode(wrapped)
    try:
        return _wrapping_key(new_secret).decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], context)
    except InvalidTag as error:
        raise UnwrapError("the wrapped submitter secret does not open") from error
