"""What the key store deals in: secrets, their limits, and where the archive key comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SECRET_SIZE = 32
MAX_FILE_PART = 1024 * 1024  # far more than any header; keeps requests small
DEFAULT_SECRETS_PATH = "fs/ekss/secrets"


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
