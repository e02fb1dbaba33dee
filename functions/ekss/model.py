"""What the key store deals in: secrets, their limits, and where the archive key comes from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

SECRET_SIZE = 32
# EKSS reads an upload's header from the inbox: first this many bytes, then more if the
# header is longer (1 MiB is far more than any header of one or a few recipients)
HEADER_PROBES = (64 * 1024, 1024 * 1024)
DEFAULT_SECRETS_PATH = "fs/ekss/secrets"

# A file's one secret lives under uuid5(FILE_SECRET_NAMESPACE, file id): a fixed UUID of
# this project's, never to change (a change would lose every file's secret to its file).
# That anyone can compute a file's secret id is harmless: secret ids travel in events
# (FileInterrogationSuccess) and lie in tables anyway, and an id is no capability: a secret
# leaves EKSS only to IRS for a file in the inbox, or in an envelope for a reader's key
# that a download work order of that very file names.
FILE_SECRET_NAMESPACE = uuid.UUID("8f76992a-e055-4bec-8157-43110a2f9e59")

# the one field of a deleted file's tombstone (an ISO time): no key material at all
TOMBSTONE_FIELD = "deleted"


def file_secret_id(file_id: uuid.UUID) -> str:
    """The id of the file's one secret: the same for every call, so a retry finds it."""
    return str(uuid.uuid5(FILE_SECRET_NAMESPACE, str(file_id)))


def tombstone(now: datetime | None = None) -> dict[str, str]:
    """What takes a deleted file's secret's place, so that none is ever created again."""
    return {TOMBSTONE_FIELD: (now or datetime.now(UTC)).isoformat()}


def is_tombstone(data: dict[str, str]) -> bool:
    return TOMBSTONE_FIELD in data and "secret" not in data


# set (an ISO time) on the file's secret once the file is registered: envelopes from then on
REGISTERED_FIELD = "registered"


def is_registered(data: dict[str, str]) -> bool:
    return REGISTERED_FIELD in data and "secret" in data


@dataclass(frozen=True)
class CreatedSecret:
    """Both secrets of an upload: the submitter's (to decrypt) and the new one (kept)."""

    submitter_secret: bytes
    new_secret: bytes
    secret_id: str
    offset: int  # where the encrypted body starts in the upload


class ArchiveKeySource(Protocol):
    def private_key(self) -> bytes:
        """The raw 32-byte private key; SecretStoreUnavailable if the store cannot be read."""
        ...
