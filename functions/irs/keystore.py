"""The key store as the interrogation room needs it, and the wrapping of the submitter secret.

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
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

_WRAP_LABEL = b"fs-irs-wrap-submitter-secret"


@dataclass(frozen=True)
class FileSecrets:
    submitter_secret: bytes = field(repr=False)
    new_secret: bytes = field(repr=False)
    secret_id: str
    offset: int


class KeyStoreRejected(Exception):
    """EKSS refused the upload's header (4xx): the submitter's problem, not a retry case."""

    def __init__(self, exception_id: str, description: str, data: dict[str, Any]) -> None:
        super().__init__(f"{exception_id}: {description}")
        self.exception_id = exception_id
        self.description = description
        self.data = data


class KeyStoreUnavailable(Exception):
    """EKSS or its secret store cannot serve now (5xx, network, refused credentials)."""


class SecretNotFound(Exception):
    """EKSS has no secret under this id."""


class KeyStore(Protocol):
    def create_secret(self, submitter_public_key: str, file_part: bytes) -> FileSecrets: ...
    def new_secret(self, secret_id: str) -> bytes:
        """The stored secret of ``secret_id``."""
        ...

    def delete_secret(self, secret_id: str) -> None: ...


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
