"""Where a downloaded file goes: names built from the file id, never from a server path.

``<id><ext>.c4gh`` is the download (GHGA's client names it the same way), ``<id><ext>``
its decrypted content. Both are written under a temporary name and renamed only when
complete and verified; a download that fails its checksum becomes ``<id><ext>.c4gh.corrupt``.
A final name never replaces a file that appeared meanwhile, unless the user said so.

The file id and extension come from the archive's work package: a hostile or broken
server must not be able to name a file outside the output directory, a device, or a name
Windows would change. Every name passes the alias rules' ``name_problem`` (one segment
that is a file name on Windows and POSIX alike), and ``DownloadPaths.of`` checks again
that each path it hands out is a direct child of the output directory.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from shared.multipart import name_problem

MAX_ID = 200
_SAFE_EXTENSION = re.compile(r"^(\.[A-Za-z0-9_+-]{1,20}){0,3}$")
LONGEST_SUFFIX = ".c4gh.part.json"  # of the names a download uses, the longest addition


def file_id_problem(file_id: str) -> str | None:
    """Why a file id cannot name a local file (it must not reach outside the output dir)."""
    if not 1 <= len(file_id) <= MAX_ID:
        return f"a file id has 1 to {MAX_ID} characters"
    if any(unicodedata.category(c).startswith(("C", "Z")) and c != " " for c in file_id):
        return "the file id contains control or invisible characters"
    if "/" in file_id or "\\" in file_id or ":" in file_id or file_id.startswith("."):
        return "the file id contains a path separator or starts with a dot"
    problem = name_problem(file_id) or name_problem(file_id + LONGEST_SUFFIX)
    return f"the file id {problem}" if problem else None


def safe_extension(extension: str | None) -> str:
    """The extension if it is a plain one (``.bam``, ``.vcf.gz``), else nothing (a file
    id too long to take it gets none either, see ``DownloadPaths.of``)."""
    if extension and _SAFE_EXTENSION.match(extension):
        return extension
    return ""


@dataclass(frozen=True)
class DownloadPaths:
    encrypted: Path  # <id><ext>.c4gh, the finished download
    plain: Path  # <id><ext>, the decrypted content

    @classmethod
    def of(cls, output_dir: Path, file_id: str, extension: str | None) -> DownloadPaths:
        """The paths of one file; ValueError for a file id that ``file_id_problem`` refuses
        (callers check first, to say so; this is the last line of defence)."""
        problem = file_id_problem(file_id)
        if problem:
            raise ValueError(problem)
        for suffix in dict.fromkeys((safe_extension(extension), "")):  # too long: no extension
            name = file_id + suffix
            paths = cls(output_dir / f"{name}.c4gh", output_dir / name)
            if all(p.parent == output_dir and not name_problem(p.name) for p in paths.all()):
                return paths
        raise ValueError(f"{file_id!r} is not a safe file name in {output_dir}")

    def settle_interrupted_places(self) -> None:
        """Finish a ``place`` that a kill cut between its link and its unlink: the
        finished name and its temporary one are then the same file, which every later run
        would refuse as a file with other names (connector/files.py)."""
        for source, target in ((self.partial, self.encrypted), (self.plain_partial, self.plain)):
            settle_interrupted_place(source, target)

    def all(self) -> tuple[Path, ...]:
        """Every path a download of this file may write."""
        return (
            self.encrypted,
            self.plain,
            self.partial,
            self.record,
            self.corrupt,
            self.plain_partial,
            self.plain_record,
        )

    @property
    def partial(self) -> Path:
        return self.encrypted.with_name(self.encrypted.name + ".part")

    @property
    def record(self) -> Path:
        """The resume record beside the partial file."""
        return self.encrypted.with_name(self.encrypted.name + ".part.json")

    @property
    def corrupt(self) -> Path:
        return self.encrypted.with_name(self.encrypted.name + ".corrupt")

    @property
    def plain_partial(self) -> Path:
        return self.plain.with_name(self.plain.name + ".part")

    @property
    def plain_record(self) -> Path:
        """The resume record of a download that writes the plaintext alone."""
        return self.plain.with_name(self.plain.name + ".part.json")


def settle_interrupted_place(source: Path, target: Path) -> bool:
    """Remove ``source`` if it and ``target`` are one regular file of ours with exactly
    these two names (what a kill inside ``place`` leaves); True if it did. Removing a name
    never writes through it, so a link someone planted loses only that name."""
    try:
        a, b = os.lstat(source), os.lstat(target)
    except FileNotFoundError:
        return False
    same = (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and stat.S_ISREG(a.st_mode)
    ours = not hasattr(os, "geteuid") or a.st_uid == os.geteuid()
    if not (same and ours and a.st_nlink == 2):
        return False
    os.unlink(source)
    return True


def place(source: Path, target: Path, overwrite: bool) -> None:
    """Rename ``source`` to ``target``; without ``overwrite`` never replace an existing
    file (FileExistsError): a hard link is created exclusively, then the old name goes.
    Neither follows a link at ``target``: a rename replaces the link itself."""
    if overwrite:
        os.replace(source, target)
        return
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(target):
            raise FileExistsError(f"{target} exists") from None
        os.replace(source, target)
        return
    os.unlink(source)
