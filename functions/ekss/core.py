"""The key store: one secret per upload, envelopes of it for readers, and its deletion.

Interrogation sends the first bytes of an upload; the archive's private key opens the
Crypt4GH header, and a NEW random 32-byte secret replaces the submitter's: only the new one
is kept (written once, check-and-set, one path per secret id), and both go back so that the
file can be re-encrypted. With the file's id the secret id is derived from it, so a file
has at most one secret however often interrogation retries (docs/deletion.md: no orphans
after a crash), and a deleted file's tombstone takes its place for good. Downloads later
get the secret wrapped in a Crypt4GH header for the reader's public key. Secrets and keys
never reach a log line or an error description.
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
    FileDeleted,
    FilePartTooLarge,
    InvalidFileId,
    InvalidSecretId,
    SecretContended,
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
    file_secret_id,
    is_tombstone,
    tombstone,
)
from shared.crypt import c4gh, header
from shared.ports import SecretExists, SecretStore, SecretStoreUnavailable

log = logging.getLogger("fs.ekss")

_ID_ATTEMPTS = 5
_RACE_ATTEMPTS = 5  # a file's secret changing under a request: creates and deletions at once


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

    def create_secret(
        self, submitter_public_key: bytes, file_part: bytes, file_id: str | None = None
    ) -> CreatedSecret:
        """Open the upload's header, return both secrets; the new one is stored once.

        With ``file_id`` it is the file's one secret: the first call stores it, every later
        call returns the same secret and id (the submitter's secret is opened from the header
        each time), and a deleted file is refused (410). Without, a fresh secret every call.
        """
        file_uuid = None if file_id is None else _file_uuid(file_id)
        if len(file_part) > MAX_FILE_PART:
            raise FilePartTooLarge()
        with refusing_bad_headers():
            length = header.measure(file_part)  # before any store access: bad input is cheap
        with refusing_store_outage():
            archive_key = self._archive_key.private_key()
        with refusing_bad_headers():
            opened = header.open_header(file_part, length, archive_key, submitter_public_key)
        if file_uuid is None:
            new_secret = os.urandom(SECRET_SIZE)
            secret_id = self._store_once(new_secret)
            log.info("secret stored", extra={"secret_id": secret_id, "offset": length})
        else:
            secret_id, new_secret = self._file_secret(file_uuid)
        return CreatedSecret(opened.session_key, new_secret, secret_id, length)

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        """A Crypt4GH header holding the secret for ``reader_public_key``, by the archive."""
        with refusing_store_outage():
            data = self._secrets.read(self._path(_canonical(secret_id)))
            archive_key = self._archive_key.private_key()
        if data is None or is_tombstone(data):  # a deleted file's secret is unknown, too
            raise UnknownSecret()
        return c4gh.make_header(_stored_secret(data), archive_key, reader_public_key)

    def delete(self, secret_id: str) -> None:
        """Remove the secret and all its versions; an unknown id is already deleted.

        A deleted file's tombstone stays: it is what keeps a secret from being created for
        the file again. (A deletion of the file between the read and the delete here would
        lose its tombstone; only IRS's failure path calls this, for a file not accepted.)
        """
        secret_id = _canonical(secret_id)
        path = self._path(secret_id)
        with refusing_store_outage():
            data = self._secrets.read(path)
            if data is not None and is_tombstone(data):
                log.info("a deleted file's tombstone is kept", extra={"secret_id": secret_id})
                return
            self._secrets.delete(path)
        log.info("secret deleted", extra={"secret_id": secret_id})

    def forget_file(self, file_id: str) -> bool:
        """Destroy the file's secret with all its versions, and write a tombstone in its
        place (check-and-set; a create that slipped in between is destroyed again).

        True if a secret was there. Idempotent: a tombstoned file is left as it is. A file id
        that is no UUID never had a secret (POST /secrets takes UUIDs only): nothing to do.
        """
        try:
            file_uuid = _file_uuid(file_id)
        except InvalidFileId:
            log.warning("deletion of a file id that is no UUID: nothing held")
            return False
        secret_id = file_secret_id(file_uuid)
        path = self._path(secret_id)
        removed = False
        for _ in range(_RACE_ATTEMPTS):
            with refusing_store_outage():
                data = self._secrets.read(path)
                if data is not None and is_tombstone(data):
                    return removed
                removed = removed or data is not None
                # always: a soft-deleted version still holds its secret, and read skips it
                self._secrets.delete(path)
                try:
                    self._secrets.create(path, tombstone())
                except SecretExists:
                    log.warning("a secret was created during deletion; destroying it again")
                    continue
            log.info(
                "file's secret destroyed, tombstone written",
                extra={"file_id": str(file_uuid), "secret_id": secret_id, "removed": removed},
            )
            return removed
        raise SecretContended()

    def _file_secret(self, file_id: uuid.UUID) -> tuple[str, bytes]:
        """(id, secret) of the file's one secret: stored now, or the one stored before."""
        secret_id = file_secret_id(file_id)
        path = self._path(secret_id)
        fresh = os.urandom(SECRET_SIZE)
        for _ in range(_RACE_ATTEMPTS):
            # an outage is a 503 and nothing is taken back: if the write landed, it is the
            # file's one secret, which a concurrent call may already have returned; the
            # caller's retry finds it (and the file's deletion destroys it)
            with refusing_store_outage():
                try:
                    self._secrets.create(path, _stored(fresh))
                except SecretExists:
                    data = self._secrets.read(path)
                else:
                    log.info("file's secret stored", extra={"secret_id": secret_id})
                    return secret_id, fresh
            if data is None:
                continue  # removed since (DELETE /secrets/{id}): store one now
            if is_tombstone(data):
                raise FileDeleted(str(file_id))
            log.info(
                "file's secret was stored before; the same again", extra={"secret_id": secret_id}
            )
            return secret_id, _stored_secret(data)
        raise SecretContended()

    def _store_once(self, secret: bytes) -> str:
        data = _stored(secret)
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


def _file_uuid(file_id: str) -> uuid.UUID:
    """Every spelling of a file's UUID derives the same secret id."""
    try:
        return uuid.UUID(str(file_id))
    except (ValueError, TypeError, AttributeError) as error:
        raise InvalidFileId() from error


def _stored(secret: bytes) -> dict[str, str]:
    return {"secret": base64.b64encode(secret).decode("ascii")}


def _stored_secret(data: dict[str, str]) -> bytes:
    try:
        secret = base64.b64decode(data["secret"], validate=True)
    except (KeyError, TypeError, binascii.Error) as error:
        raise StoredSecretInvalid() from error
    if len(secret) != SECRET_SIZE:
        raise StoredSecretInvalid()
    return secret
