"""The key store: one secret per file, envelopes of it for readers, and its deletion.

IRS names the file it interrogates; EKSS reads the upload's Crypt4GH header from the inbox
itself (no caller can send it a header copied from elsewhere), opens it with the archive's
private key, and a random 32-byte secret replaces the submitter's: only the new one is
kept (written once, check-and-set, under an id derived from the file id, so a file has at
most one secret however often interrogation retries; docs/deletion.md), and both go back
so that the file can be re-encrypted. A file that is no longer in the inbox is not under
interrogation: refused. Once the file is registered (FileInternallyRegistered) its secret
is marked so, and only then do readers get it, wrapped in a Crypt4GH header for the key of
their download work order. A deleted or failed file's tombstone takes the secret's place
for good. Secrets and keys never reach a log line or an error description.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import uuid
from datetime import UTC, datetime

from functions.ekss.errors import (
    FileDeleted,
    InvalidFileId,
    InvalidSecretId,
    NoInterrogation,
    NotRegistered,
    SecretContended,
    StoredSecretInvalid,
    UnknownSecret,
    refusing_bad_headers,
    refusing_store_outage,
)
from functions.ekss.model import (
    DEFAULT_SECRETS_PATH,
    HEADER_PROBES,
    REGISTERED_FIELD,
    SECRET_SIZE,
    ArchiveKeySource,
    CreatedSecret,
    file_secret_id,
    is_registered,
    is_tombstone,
    tombstone,
)
from shared.crypt import c4gh, header
from shared.ports import ObjectNotFound, ObjectStorage, SecretExists, SecretStore

log = logging.getLogger("fs.ekss")

_RACE_ATTEMPTS = 5  # a file's secret changing under a request: creates and deletions at once


class SecretKeeper:
    def __init__(
        self,
        secrets: SecretStore,
        archive_key: ArchiveKeySource,
        storage: ObjectStorage,
        inbox_bucket: str,
        *,
        secrets_path: str = DEFAULT_SECRETS_PATH,
        header_probes: tuple[int, ...] = HEADER_PROBES,
    ) -> None:
        self._secrets = secrets
        self._archive_key = archive_key
        self._storage = storage
        self._inbox = inbox_bucket
        self._secrets_path = secrets_path.rstrip("/")
        self._probes = header_probes

    def create_secret(self, file_id: str, submitter_public_key: bytes) -> CreatedSecret:
        """Open the header of the file's inbox object, return both secrets.

        The first call stores the file's one secret, every later call returns the same
        secret and id (the submitter's secret is opened from the inbox header each time).
        A file not in the inbox is refused (404), a deleted or failed one too (410).
        """
        file_uuid = _file_uuid(file_id)
        start = self._header(str(file_uuid))
        with refusing_bad_headers():
            length = header.measure(start)  # before any store access: bad input is cheap
        with refusing_store_outage():
            archive_key = self._archive_key.private_key()
        with refusing_bad_headers():
            opened = header.open_header(start, length, archive_key, submitter_public_key)
        secret_id, new_secret = self._file_secret(file_uuid)
        return CreatedSecret(opened.session_key, new_secret, secret_id, length)

    def _header(self, object_key: str) -> bytes:
        """The start of the inbox object, long enough for its whole header if it has one:
        the first probe, then the next if the header goes on (a truncated header is the
        upload's fault, 400 headerTruncated)."""
        info = self._storage.head(self._inbox, object_key)
        if info is None:
            raise NoInterrogation()
        start = b""
        for probe in self._probes:
            size = min(probe, info.size)
            if size <= 0:
                return b""  # an empty object: refused as no Crypt4GH
            try:
                start = self._storage.get_range(self._inbox, object_key, 0, size - 1)
            except ObjectNotFound as error:
                raise NoInterrogation() from error
            try:
                header.measure(start)
            except header.HeaderIncomplete:
                if size < info.size:
                    continue
            except header.UploadHeaderProblem:
                pass  # refused with its reason by the caller
            return start
        return start  # longer than the last probe: measured again, refused as truncated

    def envelope(self, secret_id: str, reader_public_key: bytes) -> bytes:
        """A Crypt4GH header holding the secret for ``reader_public_key``, by the archive."""
        with refusing_store_outage():
            data = self._secrets.read(self._path(_canonical(secret_id)))
            archive_key = self._archive_key.private_key()
        if data is None or is_tombstone(data):  # a deleted file's secret is unknown, too
            raise UnknownSecret()
        if not is_registered(data):
            raise NotRegistered()
        return c4gh.make_header(_stored_secret(data), archive_key, reader_public_key)

    def mark_registered(self, file_id: str) -> bool:
        """FileInternallyRegistered: the file's secret, as a new version marked registered
        (check-and-set; the secret itself unchanged). Idempotent; True if marked now.

        Nothing to mark for a file without a secret or with a tombstone (deleted or
        failed meanwhile): the deletion has the last word.
        """
        try:
            path = self._path(file_secret_id(_file_uuid(file_id)))
        except InvalidFileId:
            log.warning("registration of a file id that is no UUID: nothing held")
            return False
        for _ in range(_RACE_ATTEMPTS):
            with refusing_store_outage():
                found = self._secrets.read_versioned(path)
                if found is None or is_tombstone(found[0]):
                    log.warning("registered file has no secret here", extra={"file_id": file_id})
                    return False
                data, version = found
                if is_registered(data):
                    return False
                marked = {"secret": data["secret"], REGISTERED_FIELD: _now()}
                try:
                    self._secrets.replace(path, marked, version)
                except SecretExists:
                    continue  # another write came first: look again
            log.info("file's secret marked registered", extra={"file_id": file_id})
            return True
        raise SecretContended()

    def forget_file(self, file_id: str) -> bool:
        """Destroy the file's secret with all its versions, and write a tombstone in its
        place (check-and-set; a create that slipped in between is destroyed again).

        For FileDeletionRequested and FileInterrogationFailure. True if a secret was there.
        Idempotent: a tombstoned file is left as it is. A file id that is no UUID never had
        a secret (POST /secrets takes UUIDs only): nothing to do.
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
                continue  # removed between the two calls: store one now
            if is_tombstone(data):
                raise FileDeleted(str(file_id))
            log.info(
                "file's secret was stored before; the same again", extra={"secret_id": secret_id}
            )
            return secret_id, _stored_secret(data)
        raise SecretContended()

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


def _now() -> str:
    return datetime.now(UTC).isoformat()


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
