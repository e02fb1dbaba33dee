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
    endpoints: dict[str, Any],
    box: UploadBox,
    home: Path,
    original: Path,
    how: signal.Signals,
    concurrency: int = 2,
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
        FS_CONNECTOR_CONCURRENCY=str(concurrency),
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
    assert not list((home / "state" / "fs-connector").glob("*.parts"))
    assert_inbox_decrypts(endpoints, done["id"], original, tmp_path, PARTS)


def test_a_resume_of_an_unchanged_file_does_not_read_the_parts_already_uploaded(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(PARTS * PART_SIZE - 200_000))
    # one part at a time: parts 1..ALLOWED are in S3 and in the log when it is killed
    _, stored = _interrupted_upload(endpoints, box, home, original, signal.SIGKILL, 1)
    assert stored == set(range(1, ALLOWED + 1))
    proxy = RecordingProxy()
    try:
        env = connector_env(endpoints, box, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        second = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert second.returncode == 0, second.stderr
    assert f"going on at part {ALLOWED + 1} (the parts before are not read again)" in (
        second.stderr
    )
    assert f"({ALLOWED} not read again)" in second.stderr
    assert sorted(proxy.puts(None)) == list(range(ALLOWED + 1, PARTS + 1))
    (done,) = _listing(connector_env(endpoints, box, home)).values()
    assert_inbox_decrypts(endpoints, done["id"], original, tmp_path, PARTS)


def test_a_file_rewritten_in_place_is_read_again_and_never_mixed(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    """After the interruption, the plaintext of the first three parts is overwritten in
    place with the modification time kept (as ``touch -r`` or ``rsync -t --inplace`` do).
    Skipping the parts already uploaded would archive the old parts 1-3 with the new rest
    and a SHA-256 that matches it; the inode's change time tells the rewrite, so the resume
    reads the file from the start, sends every part again (the nonces are chained) and the
    inbox holds the new file, whole."""
    original = tmp_path / "big.bin"
    content = os.urandom(PARTS * PART_SIZE - 200_000)
    original.write_bytes(content)
    # one part at a time: parts 1..ALLOWED are in S3 and in the log when it is killed
    _, stored = _interrupted_upload(endpoints, box, home, original, signal.SIGKILL, 1)
    assert stored == set(range(1, ALLOWED + 1))
    state = home / "state" / "fs-connector"
    (log,) = state.glob("*.parts")
    assert [json.loads(line)["n"] for line in log.read_text().splitlines()] == [1, 2, 3]

    segments = ALLOWED * PART_SIZE // 65_564  # cipher segments that begin in parts 1..3
    stat = original.stat()
    with original.open("r+b") as handle:
        handle.write(bytes(segments * 65_536))  # their plaintext, all of it
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    proxy = RecordingProxy()
    try:
        env = connector_env(endpoints, box, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        second = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert second.returncode == 0, second.stderr
    assert "going on at part" not in second.stderr and "(0 not read again)" in second.stderr
    assert sorted(proxy.puts(None)) == list(range(1, PARTS + 1))
    (done,) = _listing(connector_env(endpoints, box, home)).values()
    assert done["state"] == "inbox"
    assert not list(state.iterdir())  # record and log gone
    expected = tmp_path / "expected.bin"
    expected.write_bytes(bytes(segments * 65_536) + content[segments * 65_536 :])
    assert_inbox_decrypts(endpoints, done["id"], expected, tmp_path, PARTS)


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
