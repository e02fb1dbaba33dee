"""``fs-connector decrypt``: Crypt4GH files (or the ``.c4gh`` files of directories) to plain.

Everything is checked before anything is written: every input must be a Crypt4GH file
whose header opens with the user's private key, and no output may exist unless
``--overwrite``. Each file is then decrypted as a stream into ``<output>.part``, renamed to
its final name only when every segment authenticated (and, with ``--expect-sha256``,
the plaintext hash matched); a damaged file leaves no output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from connector.download.paths import place
from connector.download.verify import (
    BackgroundWriter,
    SessionDecryptor,
    decrypt_stream,
    file_reader,
)
from connector.errors import BadInput
from connector.files import UnsafeFile, discard_own, existing_problem, open_private
from connector.output import BatchResult, FileOutcome, report_outcome
from connector.progress import Reporter
from shared.crypt.c4gh import HeaderError, HeaderTruncatedError, SegmentAuthError, read_header

SUFFIX = ".c4gh"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DecryptJob:
    source: Path
    target: Path
    header_length: int
    session_keys: list[bytes]
    overwrite: bool = False  # the target may be replaced (planned so: it existed)

    @property
    def temporary(self) -> Path:
        return self.target.with_name(self.target.name + ".part")


def _inputs(paths: list[Path]) -> tuple[list[Path], list[str]]:
    files, problems = [], []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix == SUFFIX and p.is_file())
            if not found:
                problems.append(f"{path}: no {SUFFIX} files in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return list(dict.fromkeys(files)), problems


def _target(source: Path, output_dir: Path | None) -> Path:
    name = source.name[: -len(SUFFIX)] if source.name.endswith(SUFFIX) else source.name
    name = name or source.name
    if name == source.name:
        name += ".decrypted"
    return (output_dir or source.parent) / name


def _header_problem(source: Path, private_key: bytes) -> tuple[int, list[bytes]] | str:
    try:
        with source.open("rb") as handle:
            keys, length = read_header(handle, private_key)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    except HeaderTruncatedError:
        return "is too short to be a Crypt4GH file"
    except HeaderError as error:
        if "cannot be decrypted" in str(error) or "no session key" in str(error):
            return (
                "cannot be decrypted with your private key (it was encrypted for another key; "
                "check --my-private-key-path)"
            )
        if "magic" in str(error):
            return "is not a Crypt4GH file"
        return f"is not a Crypt4GH file this tool can read ({error})"
    return length, keys


def plan_decryption(
    paths: list[Path],
    output_dir: Path | None,
    private_key: bytes,
    overwrite: bool,
    expect_sha256: str | None,
) -> list[DecryptJob]:
    """Checked jobs for every input; BadInput listing every problem otherwise."""
    if not paths:
        raise BadInput("Nothing to decrypt: name .c4gh files or directories.")
    if expect_sha256 is not None and not _SHA256.match(expect_sha256.lower()):
        raise BadInput("--expect-sha256 takes the 64 hex digits of a SHA-256 checksum.")
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise BadInput(f"The output directory {output_dir} is not a directory.")
    files, problems = _inputs(paths)
    if expect_sha256 is not None and len(files) != 1:
        problems.append("--expect-sha256 needs exactly one file to decrypt")
    jobs, targets = [], set()
    for source in files:
        target = _target(source, output_dir)
        header = _header_problem(source, private_key)
        if isinstance(header, str):
            problems.append(f"{source}: {header}")
        elif target.resolve() in targets:
            problems.append(f"{source}: another input decrypts to {target} as well")
        elif existing_problem(target):
            problems.append(f"{source}: {target} {existing_problem(target)}; not written")
        elif os.path.lexists(target) and not overwrite:
            problems.append(f"{source}: {target} exists; --overwrite replaces it")
        else:
            targets.add(target.resolve())
            jobs.append(DecryptJob(source, target, *header, overwrite=overwrite))
    if problems:
        raise BadInput("Nothing was decrypted:\n  " + "\n  ".join(problems))
    return jobs


def decrypt_one(job: DecryptJob, reporter: Reporter, expect_sha256: str | None) -> FileOutcome:
    body_size = job.source.stat().st_size - job.header_length
    advance = reporter.bar(job.source.name, body_size)
    job.target.parent.mkdir(parents=True, exist_ok=True)
    try:
        sink = open_private(job.temporary)
    except (UnsafeFile, OSError) as error:
        why = error.strerror if isinstance(error, OSError) else str(error)
        return FileOutcome(str(job.source), "failed", f"not decrypted: {why}")
    try:
        with job.source.open("rb", buffering=0) as source, sink:
            writer = BackgroundWriter(sink)
            try:
                sha256 = decrypt_stream(
                    file_reader(source, job.header_length),
                    body_size,
                    SessionDecryptor(job.session_keys),
                    sink=writer,
                    on_progress=advance,
                    buffers=writer.depth + 1,
                )
            finally:
                writer.close()
        if expect_sha256 is not None and sha256 != expect_sha256.lower():
            raise SegmentAuthError(
                f"the plaintext's sha-256 is {sha256[:16]}..., not {expect_sha256[:16]}..."
            )
        place(job.temporary, job.target, job.overwrite)
    except (SegmentAuthError, OSError) as error:
        discard_own(job.temporary)
        if isinstance(error, FileExistsError):
            why = f"{job.target} appeared meanwhile; --overwrite replaces it"
        else:
            why = error.strerror if isinstance(error, OSError) else str(error)
        return FileOutcome(str(job.source), "failed", f"not decrypted: {why}")
    except BaseException:
        discard_own(job.temporary)
        raise
    detail = f"to {job.target}" + ("; sha-256 matches" if expect_sha256 else "")
    return FileOutcome(str(job.source), "decrypted", detail)


def decrypt_files(
    jobs: list[DecryptJob], reporter: Reporter, expect_sha256: str | None
) -> BatchResult:
    result = BatchResult([])
    with reporter.progress():
        for job in jobs:
            outcome = decrypt_one(job, reporter, expect_sha256)
            result.outcomes.append(outcome)
            report_outcome(outcome, reporter)
    return result
