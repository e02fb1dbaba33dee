"""Where the archive's Crypt4GH private key comes from: the secret store, or a mounted file.

Never from code or the repository. The key is read at first use and then kept in memory,
because every request needs it and the store is a network hop away; a failed read is not
cached, so the next request tries again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from crypt4gh.keys import get_private_key

from functions.ekss.errors import ArchiveKeyUnavailable
from shared.crypt.keys import KeyFormatError, decode_key
from shared.ports import SecretStore


class _Cached:
    """An ArchiveKeySource (functions.ekss.model) that loads once, on first use."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def private_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load()
            return self._key

    def _load(self) -> bytes:
        raise NotImplementedError


class StoredArchiveKey(_Cached):
    """Field ``private_key`` (base64 of the raw key) at ``<keys_path>/<storage_alias>``."""

    def __init__(self, store: SecretStore, keys_path: str, storage_alias: str) -> None:
        super().__init__()
        self._store = store
        self._path = f"{keys_path.rstrip('/')}/{storage_alias}"

    def _load(self) -> bytes:
        data = self._store.read(self._path)
        if not data or "private_key" not in data:
            raise ArchiveKeyUnavailable(
                f"The archive's private key is not in the secret store at {self._path}."
            )
        try:
            return decode_key(data["private_key"])
        except KeyFormatError as error:
            raise ArchiveKeyUnavailable(
                f"The archive's private key at {self._path} is not base64 of 32 bytes."
            ) from error


class FileArchiveKey(_Cached):
    """A mounted file: an unencrypted Crypt4GH private key file, or one line of base64."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._path = Path(path)

    def _load(self) -> bytes:
        try:
            text = self._path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise ArchiveKeyUnavailable(
                f"The archive's private key file {self._path} cannot be read."
            ) from error
        try:
            if "-----BEGIN" in text:
                return bytes(get_private_key(str(self._path), _no_passphrase))
            return decode_key(text)
        # crypt4gh raises several types for bad files, and SystemExit for a bad key body
        except (Exception, SystemExit) as error:
            raise ArchiveKeyUnavailable(
                f"The archive's private key file {self._path} does not hold an unencrypted "
                "Crypt4GH private key."
            ) from error


def _no_passphrase() -> str:
    raise ValueError("the archive key file must not need a passphrase")
