"""Interrupting an upload and running the same command again: only missing parts go up.

A recording proxy sits between the connector (a subprocess) and everything it talks to.
It lets the first PUTs through and holds the next back, so the test knows which parts
S3 has when it interrupts the connector, and it counts the PUTs of the second run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.connector.helpers import (
    BIN,
    PART_SIZE,
    RecordingProxy,
    UploadBox,
    connector_env,
    run_cli,
)
from tests.connector.test_upload_e2e import assert_inbox_decrypts

# uploads here are checked in the inbox, so interrogation must not move them on
pytestmark = pytest.mark.usefixtures("interrogation_paused")


PARTS = 6
ALLOWED = 3


def _listing(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = run_cli(["ls", "--json"], env)
    assert result.returncode == 0, result.stderr
    return {item["id"]: item for item in json.loads(result.stdout)}


def _interrupted_upload(
    endpoints: dict[str, Any], box: UploadBox, home: Path, original: Path, how: signal.Signals
) -> tuple[subprocess.CompletedProcess, set[int]]:
    """Start an upload, let ALLOWED parts through, interrupt it with ``how``."""
    proxy = RecordingProxy()
    proxy.allow_puts = ALLOWED
    env = connector_env(
        endpoints,
        box,
        home,
        HTTP_PROXY=proxy.url,
        http_proxy=proxy.url,
        FS_CONNECTOR_CONCURRENCY="2",
    )
    process = subprocess.Popen(
        [str(BIN / "fs-connector"), "upload", str(original)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.held.wait(120), "the connector never reached the held-back part"
        process.send_signal(how)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        proxy.close()
    stored = set(proxy.puts(200))
    assert len(stored) == ALLOWED
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), stored


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_upload_resumes_with_missing_parts_only(
    endpoints: dict[str, Any],
    box: UploadBox,
    home: Path,
    tmp_path: Path,
    how: signal.Signals,
) -> None:
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(PARTS * PART_SIZE - 200_000))
    first, stored = _interrupted_upload(endpoints, box, home, original, how)
    if how == signal.SIGINT:
        assert first.returncode == 130
        assert "run the same command again to resume" in first.stderr
    else:
        assert first.returncode == -signal.SIGKILL
    env = connector_env(endpoints, box, home)
    (open_upload,) = _listing(env).values()
    assert open_upload["state"] == "init"
    assert len(list((home / "state" / "fs-connector").glob("*.json"))) == 1

    proxy = RecordingProxy()
    try:
        env = connector_env(endpoints, box, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        second = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert second.returncode == 0, second.stderr
    assert f"resuming; {ALLOWED} of {PARTS} part(s) are already uploaded" in second.stderr
    sent = proxy.puts(None)
    assert sorted(sent) == sorted(set(range(1, PARTS + 1)) - stored)
    (done,) = _listing(connector_env(endpoints, box, home)).values()
    assert (done["id"], done["state"]) == (open_upload["id"], "inbox")
    assert not list((home / "state" / "fs-connector").glob("*.json"))
    assert_inbox_decrypts(endpoints, done["id"], original, tmp_path, PARTS)


@pytest.mark.parametrize("change", ["record lost", "file grew"])
def test_unresumable_upload_is_replaced(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path, change: str
) -> None:
    original = tmp_path / "data.bin"
    original.write_bytes(os.urandom(PARTS * PART_SIZE - 200_000))
    _interrupted_upload(endpoints, box, home, original, signal.SIGKILL)
    (stale,) = _listing(connector_env(endpoints, box, home)).values()
    if change == "record lost":
        for record in (home / "state" / "fs-connector").glob("*.json"):
            record.unlink()
        reason = "there is no local resume record for it"
    else:
        with original.open("ab") as handle:
            handle.write(b"more")
        reason = "the file changed size"
    result = run_cli(["upload", str(original)], connector_env(endpoints, box, home))
    assert result.returncode == 0, result.stderr
    assert f"cannot be resumed ({reason}); deleting it and starting over" in result.stderr
    uploads = _listing(connector_env(endpoints, box, home))
    assert uploads[stale["id"]]["state"] == "cancelled"
    (fresh,) = [u for u in uploads.values() if u["id"] != stale["id"]]
    assert fresh["state"] == "inbox"
    assert_inbox_decrypts(endpoints, fresh["id"], original, tmp_path, fresh["part_count"])
