"""Downloads that cannot succeed: a clear message and the right exit code, never a
traceback, and never a file that looks good when it is not."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ExitCode
from tests.connector.download_helpers import (
    download_env,
    download_package,
    register_only,
    run_download,
    stage,
)
from tests.connector.helpers import KeyFiles, UploadBox, make_keys
from tests.dcs.helpers import ArchivedFile
from tests.support import Operator

SIZE = 200_000


@pytest.fixture(scope="module")
def good(endpoints: dict[str, Any], operator: Operator) -> ArchivedFile:
    return stage(endpoints, operator, os.urandom(SIZE))


def _only(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in ("home", "keys"))


def test_a_token_for_another_key_is_not_authorized(
    endpoints: dict[str, Any],
    operator: Operator,
    good: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    package = download_package(operator, keys, [good.file_id])
    stranger = make_keys(tmp_path / "stranger")
    env = download_env(
        endpoints,
        package,
        home,
        FS_CONNECTOR_MY_PUBLIC_KEY_PATH=str(stranger.public),
        FS_CONNECTOR_MY_PRIVATE_KEY_PATH=str(stranger.private),
    )
    result = run_download(env, tmp_path)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED, result.stderr
    assert "cannot be opened with your private key" in result.stderr
    assert "Traceback" not in result.stderr
    assert _only(tmp_path) == ["stranger"]


def test_an_unknown_file_fails_alone(
    endpoints: dict[str, Any],
    operator: Operator,
    good: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    package = download_package(operator, keys, ["no-such-file", "../up", good.file_id])
    out = tmp_path / "out"
    out.mkdir()
    result = run_download(download_env(endpoints, package, home), out)
    assert result.exit_code == ExitCode.FAILED, result.stderr
    unknown = "no-such-file: failed (the archive has no such file (There is no file with"
    assert unknown in result.stderr
    unsafe = "../up: failed (cannot be saved: the file id contains a path separator"
    assert unsafe in result.stderr
    assert f"{good.file_id}: downloaded" in result.stderr
    assert "Done with failures: 2 failed, 1 downloaded." in result.stderr
    assert _only(out) == [f"{good.file_id}.c4gh"]
    assert _only(tmp_path) == ["out"]


def test_an_expired_package_is_not_authorized(
    endpoints: dict[str, Any],
    operator: Operator,
    good: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    from functions.wps.store import WorkPackageRecord
    from shared.adapters.dynamo import bind
    from shared.resources import table_name

    package = download_package(operator, keys, [good.file_id])
    bind(WorkPackageRecord, table_name("work_packages", endpoints["resource_prefix"]))
    record = WorkPackageRecord.get(package.package_id)
    record.update(actions=[WorkPackageRecord.expires.set(datetime.now(UTC) - timedelta(1))])
    result = run_download(download_env(endpoints, package, home), tmp_path)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED, result.stderr
    assert "This work package has expired; ask for a new one." in result.stderr
    assert _only(tmp_path) == []


def test_an_upload_package_cannot_download(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    from tests.connector.download_helpers import Package

    package = Package(box.package_id, box.wpat, box.keys)
    result = run_download(download_env(endpoints, package, home), tmp_path)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED, result.stderr
    assert "This work package is for uploads, not downloads; use a download token." in (
        result.stderr
    )


@pytest.mark.parametrize("keep", [True, False], ids=["keep-encrypted", "plaintext-only"])
@pytest.mark.parametrize("damage", ["checksum", "content"])
def test_a_damaged_download_is_not_left_looking_good(
    endpoints: dict[str, Any],
    operator: Operator,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
    damage: str,
    keep: bool,
) -> None:
    plain = os.urandom(SIZE)
    if damage == "checksum":  # the archive's sha-256 is not that of the content
        f = stage(endpoints, operator, plain, declared_sha256=hashlib.sha256(b"x").hexdigest())
        why = "its content does not match the archive's checksum"
    else:  # one byte of the stored content flipped: a segment no longer authenticates
        f = stage(endpoints, operator, plain, damage_at=150_000)
        why = "its content does not decrypt (segment 2 does not decrypt"
    package = download_package(operator, keys, [f.file_id])
    asked = ["--decrypt", "--keep-encrypted"] if keep else ["--decrypt"]
    result = run_download(download_env(endpoints, package, home), tmp_path, *asked)
    assert result.exit_code == ExitCode.FAILED, result.stderr
    assert f"{f.file_id}: failed (the download is damaged: {why}" in result.stderr
    # no .c4gh, no plaintext; the bad ciphertext only where it was being kept
    left = [f"{f.file_id}.c4gh.corrupt"] if keep else []
    if keep:
        assert f"kept as {f.file_id}.c4gh.corrupt" in result.stderr
    else:
        assert "nothing of it was kept" in result.stderr
    assert _only(tmp_path) == left

    # a rerun starts over (and fails the same way), it does not resume the bad file
    again = run_download(download_env(endpoints, package, home), tmp_path, *asked)
    assert again.exit_code == ExitCode.FAILED
    assert "resumed" not in again.stderr
    assert _only(tmp_path) == left


def test_a_file_not_staged_within_max_wait_fails(
    endpoints: dict[str, Any],
    operator: Operator,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = register_only(endpoints, os.urandom(1000))
    package = download_package(operator, keys, [f.file_id])
    result = run_download(download_env(endpoints, package, home), tmp_path, "--max-wait", "0")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    waiting = "the archive is preparing this file for download; waiting (at most 0s"
    assert waiting in result.stderr
    assert "did not make the file ready within 0s (--max-wait)" in result.stderr
    assert _only(tmp_path) == []


def test_a_token_for_no_package_is_refused(
    endpoints: dict[str, Any], keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    import uuid

    from shared.crypt.sealedbox import seal
    from tests.connector.download_helpers import Package

    made_up = Package(
        str(uuid.uuid4()), f"{uuid.uuid4()}:{seal('x' * 24, keys.user.public_key)}", keys
    )
    result = run_download(download_env(endpoints, made_up, home), tmp_path)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED, result.stderr
    assert "This access token does not open this work package." in result.stderr
    garbled = Package(made_up.package_id, "not-a-token", keys)
    result = run_download(download_env(endpoints, garbled, home), tmp_path)
    assert result.exit_code == ExitCode.BAD_INPUT, result.stderr
    assert "must look like <work package id>:<token>" in result.stderr
    assert _only(tmp_path) == []


def test_no_verify_skips_the_check(
    endpoints: dict[str, Any],
    operator: Operator,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    """Without the check even a wrong archive checksum goes unnoticed: it says so."""
    plain = os.urandom(1000)
    f = stage(endpoints, operator, plain, declared_sha256=hashlib.sha256(b"x").hexdigest())
    package = download_package(operator, keys, [f.file_id])
    result = run_download(download_env(endpoints, package, home), tmp_path, "--no-verify")
    assert result.exit_code == 0, result.stderr
    assert "; not verified)" in result.stderr
    assert _only(tmp_path) == [f"{f.file_id}.c4gh"]
