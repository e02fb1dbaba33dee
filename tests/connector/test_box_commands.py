"""`fs-connector ls` and `fs-connector delete` against the stack; the token from a prompt."""

from __future__ import annotations

import json
import os
import select
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import ExitCode
from tests.connector.helpers import BIN, UploadBox, connector_env, make_keys, upload_box
from tests.support import Operator

# uploads here are checked in the inbox, so interrogation must not move them on
pytestmark = pytest.mark.usefixtures("interrogation_paused")


def _upload(env: dict[str, str], tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["upload", str(path)], env=env)
    assert result.exit_code == 0, result.output
    return path.name


def _items(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(app, ["ls", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {item["alias"]: item for item in json.loads(result.stdout)}


def test_ls_shows_states_in_words(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    env = connector_env(endpoints, box, home)
    empty = CliRunner().invoke(app, ["ls"], env=env)
    assert empty.exit_code == 0
    assert "The upload box is empty." in empty.stderr
    _upload(env, tmp_path, "one.txt", b"1" * 2000)
    _upload(env, tmp_path, "two.txt", b"2")
    table = CliRunner().invoke(app, ["ls"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ALIAS", "FILE", "ID", "SIZE", "STATE"]
    items = _items(env)
    assert any(
        line.split() == ["one.txt", items["one.txt"]["id"], "2.0", "KiB", "inbox"] for line in lines
    )
    assert any(
        line.split() == ["two.txt", items["two.txt"]["id"], "1", "B", "inbox"] for line in lines
    )
    assert {k: (v["state"], v["status"]) for k, v in items.items()} == {
        "one.txt": ("inbox", "inbox"),
        "two.txt": ("inbox", "inbox"),
    }


def test_delete_cancels_an_upload(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    env = connector_env(endpoints, box, home)
    _upload(env, tmp_path, "gone.txt", b"bye")
    file_id = _items(env)["gone.txt"]["id"]
    result = CliRunner().invoke(app, ["delete", "--file-id", file_id], env=env)
    assert result.exit_code == 0, result.output
    assert f"Deleted upload {file_id}." in result.stderr
    item = _items(env)["gone.txt"]
    assert (item["state"], item["status"]) == ("cancelled", "cancelled")
    table = CliRunner().invoke(app, ["ls"], env=env).stdout
    assert any(line.split()[-1] == "cancelled" for line in table.splitlines()[1:])
    # the alias is free again: the same file uploads anew
    _upload(env, tmp_path, "gone.txt", b"bye")
    assert _items(env)["gone.txt"]["state"] == "inbox"


def test_delete_refusals(endpoints: dict[str, Any], box: UploadBox, home: Path) -> None:
    env = connector_env(endpoints, box, home)
    bad = CliRunner().invoke(app, ["delete", "--file-id", "nonsense"], env=env)
    assert bad.exit_code == ExitCode.BAD_INPUT
    assert "'nonsense' is not a file id" in bad.stderr
    unknown = CliRunner().invoke(app, ["delete", "--file-id", str(uuid.uuid4())], env=env)
    assert unknown.exit_code == ExitCode.FAILED
    assert "answered HTTP 404: There is no such file upload in this box." in unknown.stderr


def test_token_and_passphrase_from_prompts(
    endpoints: dict[str, Any], operator: Operator, home: Path, tmp_path: Path
) -> None:
    """Without the environment variables, both are read from the (hidden) prompts."""
    keys = make_keys(tmp_path / "locked", passphrase="open sesame")
    locked_box = upload_box(operator, keys)
    env = connector_env(endpoints, locked_box, home)
    del env["FS_CONNECTOR_WPAT"]
    result = CliRunner().invoke(app, ["ls"], env=env, input=f"open sesame\n{locked_box.wpat}\n")
    assert result.exit_code == 0, result.output
    assert "The upload box is empty." in result.stderr
    assert "open sesame" not in result.output
    assert locked_box.wpat not in result.output


def test_passphrase_from_environment(
    endpoints: dict[str, Any], operator: Operator, home: Path, tmp_path: Path
) -> None:
    keys = make_keys(tmp_path / "locked", passphrase="open sesame")
    env = connector_env(
        endpoints, upload_box(operator, keys), home, FS_CONNECTOR_PASSPHRASE="open sesame"
    )
    name = _upload(env, tmp_path, "locked.txt", b"data")
    assert _items(env)[name]["state"] == "inbox"


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_token_prompt_on_a_terminal_does_not_echo(
    endpoints: dict[str, Any], box: UploadBox, home: Path
) -> None:
    """On a real (pseudo-)terminal the pasted token is read without being shown."""
    env = connector_env(endpoints, box, home)
    del env["FS_CONNECTOR_WPAT"]
    primary, secondary = os.openpty()

    def take_terminal() -> None:
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [str(BIN / "fs-connector"), "ls"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(secondary)
    output = b""
    try:
        while b"access token:" not in output:
            output += _read(primary)
        os.write(primary, box.wpat.encode() + b"\n")
        while True:
            chunk = _read(primary)
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0, output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    assert b"The upload box is empty." in output
    assert box.wpat.encode() not in output
    assert box.wpat.split(":")[1][:20].encode() not in output


def _read(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], 60)
    assert ready, "the connector said nothing for a minute"
    try:
        return os.read(fd, 4096)
    except OSError:  # the terminal closed: the process is done
        return b""
