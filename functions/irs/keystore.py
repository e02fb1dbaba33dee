"""The wrapping of the submitter secret, which an interrogation keeps between invocations.

EKSS creates the new secret once (POST /secrets) and keeps only that one. An interrogation
that continues in a later invocation needs both secrets again: the new one comes back from
EKSS inside an envelope for a throw-away key pair, and the submitter's secret comes from the
IRS record, where it is stored only encrypted under a key derived from the new secret. So
the record alone reveals nothing, and EKSS needs no extra route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

_WRAP_LABEL = b"fs-irs-wrap-submitter-secret"


class UnwrapError(ValueError):
    """The wrapped secret does not open with this new secret and context."""


def _wrapping_key(new_secret: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hmac.new(new_secret, _WRAP_LABEL, hashlib.sha256).digest())


def wrap_secret(submitter_secret: bytes, new_secret: bytes, context: bytes) -> str:
    nonce = os.urandom(12)
    sealed = _wrapping_key(new_secret).encrypt(nonce, submitter_secret, context)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unwrap_secret(wrapped: str, new_secret: bytes, context: bytes) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return _wrapping_key(new_secret).decrypt(raw[:12], raw[12:], context)
    except InvalidTag as error:
        raise UnwrapError("the wrapped submitter secret does not open") from error
