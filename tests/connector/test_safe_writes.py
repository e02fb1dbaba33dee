"""The connector's writes in a shared directory (connector.files): a planted link or a file
made beforehand is refused and left as it was, never written through, its mode never kept;
a resume file is reused only while it is still the connector's own."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crypt4gh import lib as c4gh_lib
from typer.testing import CliRunner

from connector.cli import app
from connector.download.partial import PartialFile
from connector.download.paths import DownloadPaths
from connector.download.plain import PlainPartialFile
from connector.download.verify import SessionDecryptor
from connector.errors import ExitCode
from connector.files import (
    PRIVATE,
    UnsafeFile,
    create_new,
    open_append_own,
    open_own,
    open_private,
    read_own,
    remove_stale,
    write_atomic,
)
from shared.crypt.c4gh import parse_header
from shared.crypt.keys import generate_keypair
from tests.connector.download_helpers import download_env, download_package, run_download, stage
from tests.connector.helpers import KeyFiles
from tests.support import Operator

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes, owners and FIFOs")
OTHER_UID = 4242  # another user of a shared directory (chown needs root)
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root"
)


@pytest.fixture(autouse=True)
def _no_umask() -> Iterator[None]:
    """Modes as the connector asks for them, not as the test runner's umask trims them."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the user's that a planted link points at."""
    path = tmp_path / "elsewhere" / "victim"
    path.parent.mkdir()
    path.write_bytes(b"precious")
    path.chmod(0o644)
    return path


def _untouched(victim: Path) -> None:
    assert victim.read_bytes() == b"precious"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def _planted_link(path: Path, victim: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(victim)
    return path


# ------------------------------------------------------------------ the helpers


def test_a_new_private_file_has_mode_0600(tmp_path: Path) -> None:
    with open_private(tmp_path / "plain.part") as handle:
        handle.write(b"secret")
    assert stat.S_IMODE((tmp_path / "plain.part").stat().st_mode) == PRIVATE


def test_a_planted_link_is_refused_not_followed(tmp_path: Path, victim: Path) -> None:
    link = _planted_link(tmp_path / "out" / "F1.bam.part", victim)
    for create in (lambda: create_new(link), lambda: open_private(link)):
        with pytest.raises(UnsafeFile, match="symbolic link"):
            create()
    assert link.is_symlink()
    _untouched(victim)


def test_a_dangling_planted_link_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "would-be-created"
    link = _planted_link(tmp_path / "out" / "F1", target)
    with pytest.raises(UnsafeFile):
        create_new(link)
    assert not target.exists()


@posix_only
@as_root
def test_a_file_made_beforehand_by_another_user_is_refused_and_kept(tmp_path: Path) -> None:
    planted = tmp_path / "F1.bam.part"
    planted.write_bytes(b"bait")
    planted.chmod(0o666)
    os.chown(planted, OTHER_UID, OTHER_UID)
    for action in (lambda: create_new(planted), lambda: open_private(planted)):
        with pytest.raises(UnsafeFile, match="belongs to another user"):
            action()
    with pytest.raises(UnsafeFile, match="belongs to another user"):
        open_own(planted, os.O_RDWR)
    assert planted.read_bytes() == b"bait"
    assert stat.S_IMODE(planted.stat().st_mode) == 0o666  # not ours to change either


@posix_only
def test_a_pre_created_0666_file_is_never_written_with_its_mode(tmp_path: Path) -> None:
    planted = tmp_path / "F1.bam"
    planted.write_bytes(b"bait")
    planted.chmod(0o666)
    with pytest.raises(UnsafeFile, match="already exists"):
        create_new(planted)
    assert planted.read_bytes() == b"bait"


def test_our_own_stale_temporary_file_is_replaced(tmp_path: Path) -> None:
    stale = tmp_path / "F1.bam.part"
    stale.write_bytes(b"from a crash")
    stale.chmod(0o666)
    with open_private(stale) as handle:
        handle.write(b"new")
    assert stale.read_bytes() == b"new"
    assert stat.S_IMODE(stale.stat().st_mode) == PRIVATE


@posix_only
def test_a_hard_link_in_place_of_a_temporary_file_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "elsewhere"
    mine.write_bytes(b"precious")
    os.link(mine, tmp_path / "F1.bam.part")
    with pytest.raises(UnsafeFile, match="hard links"):
        remove_stale(tmp_path / "F1.bam.part")
    with pytest.raises(UnsafeFile, match="hard links"):
        open_own(tmp_path / "F1.bam.part", os.O_RDWR)
    assert mine.read_bytes() == b"precious"


def test_open_own_refuses_links_and_narrows_the_mode(tmp_path: Path, victim: Path) -> None:
    with pytest.raises(UnsafeFile, match="symbolic link"):
        open_own(_planted_link(tmp_path / "rec.json", victim), os.O_RDWR)
    own = tmp_path / "own.part"
    own.write_bytes(b"resumable")
    own.chmod(0o666)
    os.close(open_own(own, os.O_RDWR, PRIVATE))
    assert stat.S_IMODE(own.stat().st_mode) == PRIVATE
    _untouched(victim)


@posix_only
def test_a_planted_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "F1.c4gh.part.json"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFile, match="not a regular file"):
        read_own(fifo)


def test_write_atomic_replaces_a_link_at_the_target_never_writes_through_it(
    tmp_path: Path, victim: Path
) -> None:
    target = _planted_link(tmp_path / "state" / "record.json", victim)
    write_atomic(target, b"{}", PRIVATE)
    assert not target.is_symlink() and target.read_bytes() == b"{}"
    assert stat.S_IMODE(target.stat().st_mode) == PRIVATE
    _untouched(victim)


def test_write_atomic_refuses_a_link_at_its_temporary_name(tmp_path: Path, victim: Path) -> None:
    target = tmp_path / "state" / "record.json"
    _planted_link(target.with_name("record.json.tmp"), victim)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        write_atomic(target, b"{}", PRIVATE)
    assert not target.exists()
    _untouched(victim)


def test_an_append_log_is_created_private_and_reopened_only_if_ours(
    tmp_path: Path, victim: Path
) -> None:
    log = tmp_path / "parts.log"
    for line in (b"1\n", b"2\n"):
        fd = open_append_own(log)
        os.write(fd, line)
        os.close(fd)
    assert log.read_bytes() == b"1\n2\n"
    assert stat.S_IMODE(log.stat().st_mode) == PRIVATE
    with pytest.raises(UnsafeFile, match="symbolic link"):
        open_append_own(_planted_link(tmp_path / "other.log", victim))
    _untouched(victim)


# ------------------------------------------------------------------ partial downloads


def _encrypted(plain: bytes) -> tuple[bytes, bytes, list[bytes]]:
    private, public = generate_keypair()
    writer, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, public)], io.BytesIO(plain), out)
    data = out.getvalue()
    keys, length = parse_header(data, private)
    return data[:length], data[length:], keys


def _partials(directory: Path, plain: bytes) -> tuple[PartialFile, PlainPartialFile]:
    envelope, content, keys = _encrypted(plain)
    sha = hashlib.sha256(plain).hexdigest()
    directory.mkdir(exist_ok=True)
    paths = DownloadPaths.of(directory, "F1", ".bam")
    identity = (paths, "F1", len(content), envelope, sha)
    return PartialFile(*identity), PlainPartialFile(*identity, decryptor=SessionDecryptor(keys))


@pytest.mark.parametrize("kind", [0, 1], ids=["encrypted", "plaintext"])
def test_a_link_planted_at_the_partial_download_is_refused(
    tmp_path: Path, victim: Path, kind: int
) -> None:
    partial = _partials(tmp_path / "out", b"x" * 70_000)[kind]
    _planted_link(partial.path, victim)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        partial.open()
    partial.close()
    _untouched(victim)


@pytest.mark.parametrize("kind", [0, 1], ids=["encrypted", "plaintext"])
def test_a_resume_file_replaced_by_a_link_is_refused(
    tmp_path: Path, victim: Path, kind: int
) -> None:
    """An interrupted download leaves its partial file and record; someone swaps the
    partial file for a link to a file of the same size. The rerun does not write there."""
    partial = _partials(tmp_path / "out", b"x" * 70_000)[kind]
    partial.open()
    partial.checkpoint(lambda: [])
    partial.close()
    victim.write_bytes(b"p" * partial.disk_size)
    victim.chmod(0o644)
    partial.path.unlink()
    partial.path.symlink_to(victim)
    again = _partials(tmp_path / "out", b"x" * 70_000)[kind]
    again.envelope = partial.envelope  # the same envelope as before: a resume is due
    with pytest.raises(UnsafeFile, match="symbolic link"):
        again.open()
    again.close()
    assert victim.read_bytes() == b"p" * partial.disk_size


@posix_only
def test_a_resumed_plaintext_gets_mode_0600_again(tmp_path: Path) -> None:
    _, plain_partial = _partials(tmp_path / "out", b"x" * 70_000)
    plain_partial.open()
    plain_partial.checkpoint(lambda: [])
    plain_partial.close()
    plain_partial.path.chmod(0o666)
    plain_partial.open()  # resumes the same file (record and size match)
    plain_partial.close()
    assert stat.S_IMODE(plain_partial.path.stat().st_mode) == PRIVATE


# ------------------------------------------------------------------ through the CLI


def test_decrypt_refuses_a_link_planted_at_its_output(
    tmp_path: Path, keys: KeyFiles, victim: Path
) -> None:
    writer, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, keys.user.public_key)], io.BytesIO(b"secret"), out)
    source = tmp_path / "in" / "reads.c4gh"
    source.parent.mkdir()
    source.write_bytes(out.getvalue())
    shared = tmp_path / "shared"
    for planted in ("reads", "reads.part"):  # the output, then its temporary name
        _planted_link(shared / planted, victim)
        for extra in ([], ["--overwrite"]):
            result = CliRunner().invoke(
                app,
                [
                    "decrypt",
                    "--my-private-key-path",
                    str(keys.private),
                    str(source),
                    "--output-dir",
                    str(shared),
                    *extra,
                ],
                env={},
            )
            assert result.exit_code in (ExitCode.BAD_INPUT, ExitCode.FAILED), result.output
            assert "symbolic link" in result.stderr and "Traceback" not in result.output
            _untouched(victim)
        (shared / planted).unlink()
    assert sorted(p.name for p in shared.iterdir()) == []


# ------------------------------------------------------------------ over the real stack


@pytest.mark.parametrize(
    ("planted", "args"),
    [
        ("{id}.part", ["--decrypt"]),  # the plaintext's temporary name
        ("{id}", ["--decrypt"]),  # the plaintext's final name
        ("{id}", ["--decrypt", "--overwrite"]),
        ("{id}.c4gh.part", []),  # the encrypted download's temporary name
        ("{id}.c4gh.part.json.tmp", []),  # its resume record's temporary name
    ],
)
def test_a_download_into_a_shared_directory_never_follows_a_planted_link(
    endpoints: dict[str, Any],
    operator: Operator,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
    victim: Path,
    planted: str,
    args: list[str],
) -> None:
    archived = stage(endpoints, operator, os.urandom(100_000))
    package = download_package(operator, keys, [archived.file_id])
    shared = tmp_path / "shared"
    link = _planted_link(shared / planted.format(id=archived.file_id), victim)
    result = run_download(download_env(endpoints, package, home), shared, *args)
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "symbolic link" in result.stderr and "Traceback" not in result.output
    _untouched(victim)
    assert link.is_symlink()  # left as it was
    # with the link gone, the same command downloads the file
    link.unlink()
    again = run_download(download_env(endpoints, package, home), shared, *args)
    assert again.exit_code == ExitCode.OK, again.output
    final = shared / (archived.file_id if "--decrypt" in args else f"{archived.file_id}.c4gh")
    assert stat.S_IMODE(final.stat().st_mode) == (PRIVATE if "--decrypt" in args else 0o644)
    if "--decrypt" in args:
        assert final.read_bytes() == archived.plain


def test_a_place_cut_between_link_and_unlink_is_finished_by_the_next_run(tmp_path: Path) -> None:
    """A kill inside ``place`` leaves the finished file with its temporary name as a second
    link; the next run removes that name (and only such a pair), never refusing forever."""
    from connector.download.paths import DownloadPaths, settle_interrupted_place

    paths = DownloadPaths.of(tmp_path, "F1", ".bam")
    paths.plain_partial.write_bytes(b"plaintext")
    os.link(paths.plain_partial, paths.plain)  # the kill: the unlink never ran
    paths.settle_interrupted_places()
    assert not paths.plain_partial.exists() and paths.plain.read_bytes() == b"plaintext"
    assert paths.plain.stat().st_nlink == 1
    # two different files, or a name with a third link elsewhere: left alone
    paths.plain_partial.write_bytes(b"other")
    assert settle_interrupted_place(paths.plain_partial, paths.plain) is False
    paths.plain_partial.unlink()
    os.link(paths.plain, paths.plain_partial)
    os.link(paths.plain, tmp_path / "third")
    assert settle_interrupted_place(paths.plain_partial, paths.plain) is False
    assert paths.plain_partial.exists()
