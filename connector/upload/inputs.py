"""The files of a batch, checked all together before anything is uploaded.

Files come from the command line (alias = file name) and/or a TSV of ``path<TAB>alias``
lines, as GHGA's batch-upload reads them (paths relative to the current directory, blank
lines and ``#`` comments ignored). Every problem of every file is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connector.errors import BadInput
from connector.upload.plan import plan_upload
from shared.crypt.c4gh import is_crypt4gh
from shared.multipart import alias_problem

__all__ = ["FileToUpload", "alias_problem", "collect_files", "read_tsv"]


@dataclass(frozen=True)
class FileToUpload:
    path: Path
    alias: str
    size: int
    mtime_ns: int
    # what tells a file rewritten in place from the one a resume record describes, beyond
    # size and mtime (which ``touch -r`` or ``rsync -t --inplace`` keep): the inode change
    # time, which no program can set, and the inode itself
    ctime_ns: int = 0
    inode: int = 0
    device: int = 0

    @property
    def identity(self) -> tuple[int, int, int, int, int]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device)


def read_tsv(tsv: Path) -> list[tuple[Path, str]]:
    """(path, alias) pairs of a TSV file."""
    try:
        text = tsv.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"The TSV file {tsv} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"The TSV file {tsv} cannot be read: {error}.") from None
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not columns[0].strip() or not columns[1].strip():
            problems.append(f"{tsv}, line {number}: expected <path><TAB><alias>")
            continue
        entries.append((Path(columns[0].strip()).expanduser(), columns[1].strip()))
    if problems:
        raise BadInput("\n".join(problems))
    return entries


def _check_file(path: Path) -> str | None:
    """A problem with the file, or None if it can be uploaded."""
    if not path.exists():
        return f"{path}: no such file"
    if not path.is_file():
        return f"{path}: not a regular file"
    try:
        with path.open("rb") as handle:
            start = handle.read(16)
    except OSError as error:
        return f"{path}: cannot be read ({error.strerror})"
    if is_crypt4gh(start):
        return f"{path}: already Crypt4GH-encrypted; upload the unencrypted file"
    return None


def collect_files(files: list[Path], tsv: Path | None, part_size: int) -> list[FileToUpload]:
    """Checked files of the batch, in order; BadInput listing every problem otherwise."""
    entries = [(path, path.name) for path in files]
    if tsv is not None:
        entries += read_tsv(tsv)
    if not entries:
        raise BadInput("No files to upload: name them, or give --tsv.")
    problems: list[str] = []
    result: list[FileToUpload] = []
    aliases: dict[str, Path] = {}
    paths: set[Path] = set()
    for path, alias in entries:
        problem = _check_file(path)
        if problem:
            problems.append(problem)
            continue
        bad_alias = alias_problem(alias)
        if bad_alias:
            problems.append(f"{path}: the alias {bad_alias}")
            continue
        if alias in aliases:
            problems.append(f"{path}: the alias {alias!r} is also used for {aliases[alias]}")
            continue
        resolved = path.resolve()
        if resolved in paths:
            problems.append(f"{path}: listed twice")
            continue
        aliases[alias] = path
        paths.add(resolved)
        stat = path.stat()
        try:
            plan_upload(stat.st_size, part_size)
        except BadInput as error:
            problems.append(f"{path}: {error}")
            continue
        result.append(
            FileToUpload(
                path,
                alias,
                stat.st_size,
                stat.st_mtime_ns,
                stat.st_ctime_ns,
                stat.st_ino,
                stat.st_dev,
            )
        )
    if problems:
        raise BadInput("Nothing was uploaded:\n  " + "\n  ".join(problems))
    return result
