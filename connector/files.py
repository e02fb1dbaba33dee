"""Files the connector writes beside the user's data: records that are replaced atomically,
and new files readable by their owner only (plaintext, secrets)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_BINARY


def open_private(path: Path) -> BinaryIO:
    """A new file for plaintext, readable by its owner only (it holds sensitive data)."""
    return os.fdopen(os.open(path, _NEW, 0o600), "wb")


def write_atomic(target: Path, data: bytes, mode: int) -> None:
    """Replace ``target`` with ``data`` so that a crash leaves the old or the new content,
    never a mix (written to ``<name>.tmp``, synced, then renamed)."""
    temporary = target.with_name(target.name + ".tmp")
    with os.fdopen(os.open(temporary, _NEW, mode), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
