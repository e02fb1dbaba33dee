"""Every file the connector writes: created exclusively, never through a link.

Downloads often go to shared directories (a group's project space, /tmp). There another
user can plant a symbolic link where the connector is about to write (the plaintext then
lands in a file of the attacker's choosing) or a file made beforehand with mode 0666 (the
plaintext then keeps that mode and is readable by all). So:

- a new file is created with ``O_CREAT | O_EXCL`` (and ``O_NOFOLLOW``): a name that exists,
  as a file or as a link, is refused (``UnsafeFile``), never opened; on Windows, where
  ``O_EXCL`` is there but links are reparse points, the name is checked for one first;
- plaintext and secrets are created with mode 0600 (``PRIVATE``), before a byte is written;
- a temporary file an earlier run left (``.part``, ``.tmp``) is reused or removed only if
  it is still the connector's: a regular file, not a link, of this user, with one name;
  anything else in its place is refused and left alone;
- a finished file gets its final name by rename or hard link, which replace or refuse a
  name, never write through it (``connector.download.paths.place``).

Records that change as a transfer goes on are replaced atomically (``write_atomic``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from connector.errors import TransferFailed

O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX: a link as the last name is an error
_COMMON = O_BINARY | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a planted FIFO to read must not hang
_REPARSE_POINT = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0x400)

PRIVATE = 0o600  # plaintext, secrets, resume state
PUBLIC = 0o644  # Crypt4GH files and what describes them: encrypted for the user's key


class UnsafeFile(TransferFailed):
    """A name the connector was to write is taken by something it will not write through."""


def _is_link(info: os.stat_result) -> bool:
    return stat.S_ISLNK(info.st_mode) or bool(
        getattr(info, "st_file_attributes", 0) & _REPARSE_POINT
    )


def foreign(info: os.stat_result) -> str | None:
    """Why a file is not one the connector made for this user, or None."""
    if _is_link(info):
        return "is a symbolic link (or another kind of link)"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_nlink > 1:
        return "has other names (hard links)"
    return None


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _refusal(path: Path, why: str) -> UnsafeFile:
    return UnsafeFile(
        f"{path} {why}; the connector does not write through it or replace it. Remove it "
        "if it is yours, or write to a directory other users cannot write to."
    )


def existing_problem(path: Path) -> str | None:
    """Why the name ``path`` is taken by something other than a regular file (a link, a
    directory, a device), or None if it is free or a regular file."""
    info = _lstat(path)
    if info is None:
        return None
    if _is_link(info):
        return "is a symbolic link (or another kind of link)"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    return None


def create_new(path: Path, mode: int = PRIVATE, *, read: bool = False, append: bool = False) -> int:
    """The descriptor of a new file at ``path`` with ``mode`` (less the umask): never an
    existing file or link (UnsafeFile). ``read`` opens it for reading as well."""
    info = _lstat(path)
    if info is not None:  # O_EXCL would refuse it too; this says what is there
        why = foreign(info)
        raise _refusal(path, "already exists" + (f" and {why}" if why else ""))
    flags = os.O_CREAT | os.O_EXCL | _COMMON | (os.O_RDWR if read else os.O_WRONLY)
    flags |= os.O_APPEND if append else 0
    try:
        return os.open(path, flags, mode)
    except FileExistsError:  # it appeared just now
        raise _refusal(path, "appeared while the connector was about to create it") from None


def remove_stale(path: Path) -> None:
    """Remove what an earlier run of the connector left at ``path`` (an interrupted
    temporary file); UnsafeFile, touching nothing, if it is not the connector's."""
    info = _lstat(path)
    if info is None:
        return
    why = foreign(info)
    if why:
        raise _refusal(path, f"is in the place of the connector's temporary file and {why}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def discard_own(path: Path) -> None:
    """Remove a temporary file of the connector's after a failure; anything else in its
    place (a planted link) is left as it is."""
    info = _lstat(path)
    if info is not None and not foreign(info):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def new_file(path: Path, mode: int = PRIVATE, *, read: bool = False) -> int:
    """A fresh temporary file of the connector at ``path``, replacing its own stale one."""
    remove_stale(path)
    return create_new(path, mode, read=read)


def open_own(path: Path, flags: int = os.O_RDONLY, mode: int | None = None) -> int:
    """Reopen a file the connector made earlier (a partial download it resumes) without
    following a link, and only while it is the connector's (UnsafeFile otherwise). With
    ``mode``, permissions broader than it are taken back."""
    info = _lstat(path)  # Windows: O_NOFOLLOW does not exist, reparse points show here
    if info is not None and _is_link(info):
        raise _refusal(path, "is a symbolic link (or another kind of link)")
    nonblock = _NONBLOCK if flags & (os.O_WRONLY | os.O_RDWR) == 0 else 0
    try:
        fd = os.open(path, flags | _COMMON | nonblock)
    except OSError:
        if O_NOFOLLOW and os.path.islink(path):  # ELOOP: a link appeared meanwhile
            raise _refusal(path, "is a symbolic link (or another kind of link)") from None
        raise
    try:
        why = foreign(os.fstat(fd))
        if why:
            raise _refusal(path, why)
        if nonblock:
            os.set_blocking(fd, True)
        if mode is not None and hasattr(os, "fchmod"):
            current = stat.S_IMODE(os.fstat(fd).st_mode)
            if current & ~mode:
                os.fchmod(fd, current & mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_own(path: Path, limit: int = 64 * 1024 * 1024) -> bytes:
    """The content of a small file of the connector's (a resume record), read as
    ``open_own`` opens it; ValueError if it is larger than ``limit``."""
    with os.fdopen(open_own(path), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than a record can be")
    return data


def open_private(path: Path) -> BinaryIO:
    """A new temporary file for plaintext, mode 0600 (replacing the connector's own stale
    one, refusing anything else)."""
    return os.fdopen(new_file(path, PRIVATE), "wb")


def open_append_own(path: Path, mode: int = PRIVATE) -> int:
    """A log the connector appends to (a resume record's parts): created exclusively if
    missing, else reopened as ``open_own`` does."""
    if _lstat(path) is None:
        with contextlib.suppress(UnsafeFile):  # lost a race: then it must be ours, below
            return create_new(path, mode, append=True)
    return open_own(path, os.O_WRONLY | os.O_APPEND, mode)


def write_atomic(target: Path, data: bytes, mode: int) -> None:
    """Replace ``target`` with ``data`` so that a crash leaves the old or the new content,
    never a mix (written to ``<name>.tmp``, created exclusively, synced, then renamed: a
    link at ``target`` is replaced, never written through)."""
    temporary = target.with_name(target.name + ".tmp")
    with os.fdopen(new_file(temporary, mode), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
