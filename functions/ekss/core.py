"""The key store: a new secret per upload, envelopes of it for readers, and its deletion.

Interrogation sends the first bytes of an upload; the archive's private key opens the
Crypt4GH header, and a NEW random 32-byte secret replaces the submitter's: only the new one
is kept (written once, check-and-set, one path per secret id), and both go back so that the
file can be re-encrypted. Downloads later get the secret wrapped in a Crypt4GH header for
the reader's public key. Secrets and keys never reach a log line or an error description.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import uuid
from collections.abc import Callable

from functions.ekss.errors import (
    FilePartTooLarge,
    InvalidSecretId,
    SecretIdCollision,
    SecretStoreDown,
    StoredSecretInvalid,
    UnknownSecret,
    refusing_bad_headers,
    refusing_store_outage,
)
from functions.ekss.model import (
    DEFAULT_SECRETS_PATH,
    MAX_FILE_PART,
    SECRET_SIZE,
    ArchiveKeySource,
    CreatedSecret,
)
from shared.crypt import c4gh, header
from shared.ports import SecretExists, SecretStore, SecretStoreUnavailable

log = logging.getLogger("fs.ekss")

_ID_ATTEMPTS = 5


class SecretKeeper:
    def __init__(
        self,
        secrets: SecretStore,
        archive_key: ArchiveKeySource,
        *,
        secrets_path: str = DEFAULT_SECRETS_PATH,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._secrets = secrets
        self._archive_key = archive_key
        self._secrets_path = secrets_path.rstrip("/")
        self._new_id = new_id

    def create_secret(self, submitter_public_key: bytes, file_part: bytes) -> CreatedSecret:
        """Open the upload's header, store a fresh secret once, return both secrets."""
        if len(file_part) > MAX_FILE_PART:
            raise FilePartTooLarge()
        with refusing_bad_headers():
            length = header.measure(file_part)  # before any store access: bad input is cheap
        with refusing_store_outage():
            archive_key = self._archive_key.private_key()
        with refusing_bad_headers():
            opened = header.open_header(file_part, length, archive_key, submitter_public_key)
        new_secret = os.urandom(SECRET_SIZE)
        secret_id = self._store_once(new_secret)
        log.info("secret stored", extra={"secret_id": secret_id, "offset": length})
        return CreatedSecret(opened.session_key, new_secret, secret_id, length)

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        """A Crypt4GH header holding the secret for ``reader_public_key``, by the archive."""
        with refusing_store_outage():
            data = self._secrets.read(self._path(_canonical(secret_id)))
            archive_key = self._archive_key.private_key()
        if data is None:
            raise UnknownSecret()
        return c4gh.make_header(_stored_secret(data), archive_key, reader_public_key)

    def delete(self, secret_id: str) -> None:
        """Remove the secret and all its versions; an unknown id is already deleted."""
        secret_id = _canonical(secret_id)
        with refusing_store_outage():
            self._secrets.delete(self._path(secret_id))
        log.info("secret deleted", extra={"secret_id": secret_id})

    def _store_once(self, secret: bytes) -> str:
        data = {"secret": base64.b64encode(secret).decode("ascii")}
        for _ in range(_ID_ATTEMPTS):
            secret_id = _canonical(self._new_id())
            path = self._path(secret_id)
            try:
                self._secrets.create(path, data)
            except SecretExists:
                log.warning(
                    "secret id already taken; drawing another", extra={"secret_id": secret_id}
                )
                continue
            except SecretStoreUnavailable as error:
                # the write may have landed before the failure: leave nothing behind
                with contextlib.suppress(SecretStoreUnavailable):
                    self._secrets.delete(path)
                raise SecretStoreDown() from error
            return secret_id
        raise SecretIdCollision()

    def _path(self, canonical_id: str) -> str:
        return f"{self._secrets_path}/{canonical_id}"


def _canonical(secret_id: str) -> str:
    """The id as a lowercase hyphenated UUID: only such ids become store paths, so no id can
    name another path (such as the archive key's), and every spelling names one secret."""
    try:
        return str(uuid.UUID(secret_id))
    except (ValueError, TypeError, AttributeError) as error:
        raise InvalidSecretId() from error


def _stored_secret(data: dict[str, str]) -> bytes:
    try:
        secret = base64.b64decode(data["secret"], validate=True)
    except (KeyError, TypeError, binascii.Error) as error:
        raise StoredSecretInvalid() from error
    if len(secret) != SECRET_SIZE:
        raise StoredSecretInvalid()
    return secret
