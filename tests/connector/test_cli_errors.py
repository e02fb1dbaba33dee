"""Bad input, refused tokens and unreachable services: a clear message and the exit code,
never a traceback, and nothing uploaded."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crypt4gh import lib as c4gh_lib
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import ExitCode
from shared.crypt.keys import generate_keypair
from shared.crypt.sealedbox import seal
from tests.connector.helpers import UploadBox, connector_env, make_keys
from tests.support import Operator

Setup = Callable[[Path, dict[str, str]], list[str]]


def _box_is_empty(endpoints: dict[str, Any], operator: Operator, box: UploadBox) -> bool:
    response = operator.http.get(f"{endpoints['ucs_url']}/boxes/{box.box_id}/uploads")
    assert response.status_code == 200, response.text
    return response.json()["total_count"] == 0


def _good(tmp: Path) -> str:
    path = tmp / "good.txt"
    path.write_bytes(b"fine")
    return str(path)


def _missing(tmp: Path, env: dict[str, str]) -> list[str]:
    return [_good(tmp), str(tmp / "nope.txt")]


def _directory(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / "adir").mkdir()
    return [_good(tmp), str(tmp / "adir")]


def _encrypted(tmp: Path, env: dict[str, str]) -> list[str]:
    _, public = generate_keypair()
    writer, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, public)], io.BytesIO(b"secret data"), out)
    (tmp / "done.c4gh").write_bytes(out.getvalue())
    return [_good(tmp), str(tmp / "done.c4gh")]


def _missing_key(tmp: Path, env: dict[str, str]) -> list[str]:
    env["FS_CONNECTOR_MY_PRIVATE_KEY_PATH"] = str(tmp / "absent.sec")
    return [_good(tmp)]


def _not_a_key(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / "junk.sec").write_text("this is no key\n")
    env["FS_CONNECTOR_MY_PRIVATE_KEY_PATH"] = str(tmp / "junk.sec")
    return [_good(tmp)]


def _public_as_private(tmp: Path, env: dict[str, str]) -> list[str]:
    env["FS_CONNECTOR_MY_PRIVATE_KEY_PATH"] = env["FS_CONNECTOR_MY_PUBLIC_KEY_PATH"]
    return [_good(tmp)]


def _mismatched_keys(tmp: Path, env: dict[str, str]) -> list[str]:
    other = make_keys(tmp / "other")
    env["FS_CONNECTOR_MY_PUBLIC_KEY_PATH"] = str(other.public)
    return [_good(tmp)]


def _wrong_passphrase(tmp: Path, env: dict[str, str]) -> list[str]:
    locked = make_keys(tmp / "locked", passphrase="right horse")
    env["FS_CONNECTOR_MY_PUBLIC_KEY_PATH"] = str(locked.public)
    env["FS_CONNECTOR_MY_PRIVATE_KEY_PATH"] = str(locked.private)
    env["FS_CONNECTOR_PASSPHRASE"] = "wrong horse"
    return [_good(tmp)]


def _no_passphrase(tmp: Path, env: dict[str, str]) -> list[str]:
    locked = make_keys(tmp / "locked", passphrase="right horse")
    env["FS_CONNECTOR_MY_PUBLIC_KEY_PATH"] = str(locked.public)
    env["FS_CONNECTOR_MY_PRIVATE_KEY_PATH"] = str(locked.private)
    return [_good(tmp)]


def _malformed_token(tmp: Path, env: dict[str, str]) -> list[str]:
    env["FS_CONNECTOR_WPAT"] = "not-a-token"
    return [_good(tmp)]


def _bad_tsv(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / "files.tsv").write_text(f"{_good(tmp)}\n")
    return ["--tsv", str(tmp / "files.tsv")]


def _duplicate_alias(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / "sub").mkdir()
    (tmp / "sub" / "good.txt").write_bytes(b"other")
    return [_good(tmp), str(tmp / "sub" / "good.txt")]


def _bad_part_size(tmp: Path, env: dict[str, str]) -> list[str]:
    env["FS_CONNECTOR_PART_SIZE"] = "huge"
    return [_good(tmp)]


def _no_wkvs(tmp: Path, env: dict[str, str]) -> list[str]:
    del env["FS_CONNECTOR_WKVS_URL"]
    return [_good(tmp)]


def _nothing(tmp: Path, env: dict[str, str]) -> list[str]:
    return []


def _aliased(alias: str) -> Setup:
    def setup(tmp: Path, env: dict[str, str]) -> list[str]:
        (tmp / "files.tsv").write_text(f"{_good(tmp)}\t{alias}\n", encoding="utf-8")
        return ["--tsv", str(tmp / "files.tsv")]

    return setup


def _plain_http(tmp: Path, env: dict[str, str]) -> list[str]:
    env["FS_CONNECTOR_WKVS_URL"] = "http://archive.example/wkvs"
    return [_good(tmp)]


BAD_INPUTS: dict[str, tuple[Setup, str]] = {
    "missing file": (_missing, "nope.txt: no such file"),
    "directory": (_directory, "adir: not a regular file"),
    "already encrypted": (_encrypted, "done.c4gh: already Crypt4GH-encrypted"),
    "missing key": (_missing_key, "absent.sec does not exist"),
    "not a key": (_not_a_key, "junk.sec is not a Crypt4GH (or OpenSSH ed25519) private key"),
    "public key as private": (_public_as_private, "is not a Crypt4GH (or OpenSSH ed25519)"),
    "mismatched keys": (_mismatched_keys, "The keys do not match"),
    "wrong passphrase": (_wrong_passphrase, "Wrong passphrase (from FS_CONNECTOR_PASSPHRASE)"),
    "no passphrase": (_no_passphrase, "is protected by a passphrase: set FS_CONNECTOR_PASSPHRASE"),
    "malformed token": (_malformed_token, "must look like <work package id>:<token>"),
    "bad tsv": (_bad_tsv, "line 1: expected <path><TAB><alias>"),
    "duplicate alias": (_duplicate_alias, "the alias 'good.txt' is also used for"),
    "bad part size": (_bad_part_size, "Invalid part_size 'huge' in environment variable"),
    "no wkvs url": (_no_wkvs, "No WKVS URL configured"),
    "no files": (_nothing, "No files to upload"),
    # the alias rules UCS applies (shared.multipart.alias_problem), checked before sending
    "drive letter alias": (_aliased("C:/x"), "the alias must not contain ':'"),
    "device name alias": (_aliased("con"), "the alias must not use the device name 'con'"),
    "dot-dot alias": (_aliased("sub/../f"), "the alias must not contain '.' or '..'"),
    "backslash alias": (_aliased("sub\\f"), "the alias must separate its segments with '/'"),
    "trailing dot alias": (_aliased("f."), "nor end it with a dot"),
    "plain http wkvs": (_plain_http, "http://archive.example is a plain http:// address"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_and_uploads_nothing(
    case: str,
    endpoints: dict[str, Any],
    operator: Operator,
    box: UploadBox,
    home: Path,
    tmp_path: Path,
) -> None:
    setup, message = BAD_INPUTS[case]
    env = connector_env(endpoints, box, home)
    work = tmp_path / "work"
    work.mkdir()
    args = setup(work, env)
    result = CliRunner().invoke(app, ["upload", *args], env=env, input="")
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert _box_is_empty(endpoints, operator, box)


def test_all_problems_are_reported_at_once(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    env = connector_env(endpoints, box, home)
    args = _missing(tmp_path, env) + _directory(tmp_path, env)[1:] + _encrypted(tmp_path, env)[1:]
    result = CliRunner().invoke(app, ["upload", *args], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT
    for expected in ("no such file", "not a regular file", "already Crypt4GH-encrypted"):
        assert expected in result.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path):
    path = tmp_path / "secret.txt"
    path.write_bytes(b"x")
    path.chmod(0)
    result = CliRunner().invoke(app, ["upload", str(path)], env=connector_env(endpoints, box, home))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "secret.txt: cannot be read" in result.stderr


def test_token_for_another_key_exits_3(
    endpoints: dict[str, Any], operator: Operator, box: UploadBox, home: Path, tmp_path: Path
) -> None:
    _, stranger = generate_keypair()
    env = connector_env(
        endpoints, box, home, FS_CONNECTOR_WPAT=f"{box.package_id}:{seal('x' * 24, stranger)}"
    )
    result = CliRunner().invoke(app, ["upload", _good(tmp_path)], env=env)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED
    assert "cannot be opened with your private key" in result.stderr
    assert _box_is_empty(endpoints, operator, box)


def test_wrong_access_token_exits_3(
    endpoints: dict[str, Any], operator: Operator, box: UploadBox, home: Path, tmp_path: Path
) -> None:
    forged = seal("y" * 24, box.keys.user.public_key)
    env = connector_env(endpoints, box, home, FS_CONNECTOR_WPAT=f"{box.package_id}:{forged}")
    result = CliRunner().invoke(app, ["upload", _good(tmp_path)], env=env)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED
    assert "The work package service (WPS) refused access" in result.stderr
    assert "y" * 24 not in result.output
    assert _box_is_empty(endpoints, operator, box)


def test_download_package_cannot_upload(
    endpoints: dict[str, Any], operator: Operator, box: UploadBox, home: Path, tmp_path: Path
) -> None:
    package_id, token = operator.download_package(box.keys.user, ["some-file"])
    wpat = f"{package_id}:{seal(token, box.keys.user.public_key)}"
    env = connector_env(endpoints, box, home, FS_CONNECTOR_WPAT=wpat)
    result = CliRunner().invoke(app, ["upload", _good(tmp_path)], env=env)
    assert result.exit_code == ExitCode.NOT_AUTHORIZED
    assert "is for downloads, not uploads" in result.stderr


def test_unreachable_service_exits_4(box: UploadBox, home: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = connector_env(
        {"wkvs_url": f"http://127.0.0.1:{port}/wkvs"}, box, home, FS_CONNECTOR_RETRIES="1"
    )
    result = CliRunner().invoke(app, ["upload", _good(tmp_path)], env=env)
    assert result.exit_code == ExitCode.UNREACHABLE
    assert f"at http://127.0.0.1:{port} could not be reached after 2 attempt(s)" in result.stderr


def test_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(app, ["upload", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for code in (
        "0 all done",
        "1 some file failed",
        "2 bad usage",
        "3 not authorized",
        "4 service unreachable",
        "130 interrupted",
    ):
        assert code in text
