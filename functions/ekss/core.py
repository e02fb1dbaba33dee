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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from functions.ekss import header
from functions.ekss.archive_keys import ArchiveKeySource
from shared.crypt import c4gh
from shared.errors import NotFound, ServiceError, Unavailable, Unprocessable
from shared.ports import SecretExists, SecretStore, SecretStoreUnavailable

log = logging.getLogger("fs.ekss")

SECRET_SIZE = 32
MAX_FILE_PART = 1024 * 1024  # far more than any header; keeps requests small
DEFAULT_SECRETS_PATH = "fs/ekss/secrets"
_ID_ATTEMPTS = 5


class FilePartTooLarge(ServiceError):
    status = 413
    exception_id = "filePartTooLarge"


class SecretStoreDown(Unavailable):
    exception_id = "secretStoreUnavailable"


@dataclass(frozen=True)
class CreatedSecret:
    submitter_secret: bytes
    new_secret: bytes
    secret_id: str
    offset: int


class KeyStore:
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
            raise FilePartTooLarge(
                f"file_part may have at most {MAX_FILE_PART} bytes; send only the start of the "
                "file, header included.",
                data={"max_bytes": MAX_FILE_PART},
            )
        length = header.measure(file_part)  # before any store access: bad input stays cheap
        with _store_errors():
            archive_key = self._archive_key.private_key()
        opened = header.open_header(file_part, length, archive_key, submitter_public_key)
        new_secret = os.urandom(SECRET_SIZE)
        secret_id = self._store_once(new_secret)
        log.info("secret stored", extra={"secret_id": secret_id, "offset": length})
        return CreatedSecret(opened.session_key, new_secret, secret_id, length)

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        """A Crypt4GH header holding the secret for ``reader_public_key``, by the archive."""
        with _store_errors():
            data = self._secrets.read(self._path(_canonical(secret_id)))
            archive_key = self._archive_key.private_key()
        if data is None:
            raise NotFound("There is no secret with this id.", exception_id="secretNotFound")
        return c4gh.make_header(_stored_secret(data), archive_key, reader_public_key)

    def delete(self, secret_id: str) -> None:
        """Remove the secret and all its versions; an unknown id is already deleted."""
        secret_id = _canonical(secret_id)
        with _store_errors():
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
                raise _unavailable() from error
            return secret_id
        raise ServiceError(
            "No free secret id was found; try again.", exception_id="secretIdCollision"
        )

    def _path(self, canonical_id: str) -> str:
        return f"{self._secrets_path}/{canonical_id}"


def _canonical(secret_id: str) -> str:
    """The id as a lowercase hyphenated UUID: only such ids become store paths, so no id can
    name another path (such as the archive key's), and every spelling names one secret."""
    try:
        return str(uuid.UUID(secret_id))
    except (ValueError, TypeError, AttributeError) as error:
        raise Unprocessable(
            "The secret id is not a UUID.", exception_id="invalidSecretId"
        ) from error


def _stored_secret(data: dict[str, str]) -> bytes:
    try:
        secret = base64.b64decode(data["secret"], validate=True)
    except (KeyError, TypeError, binascii.Error) as error:
        raise ServiceError(
            "The stored secret is malformed.", exception_id="storedSecretInvalid"
        ) from error
    if len(secret) != SECRET_SIZE:
        raise ServiceError("The stored secret is malformed.", exception_id="storedSecretInvalid")
    return secret


def _unavailable() -> SecretStoreDown:
    return SecretStoreDown("The secret store is unavailable; try again later.")


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except SecretStoreUnavailable as error:
        raise _unavailable() from error
