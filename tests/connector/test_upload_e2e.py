"""Uploads through the real stack over HTTP; the inbox objects decrypt to the originals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from shared.crypt.c4gh import encrypted_size, plain_size_of_body
from tests.connector.helpers import (
    PART_SIZE,
    KeyFiles,
    RecordingProxy,
    UploadBox,
    archive_private_key,
    connector_env,
    decrypt_with_tool,
    inbox_bucket,
    inbox_object,
    run_cli,
    s3,
    upload_box,
    write_raw_private_key,
)
from tests.support import Operator

# uploads here are checked in the inbox, so interrogation must not move them on
pytestmark = pytest.mark.usefixtures("interrogation_paused")


HEADER = 124
EXACT_TWO_PARTS = plain_size_of_body(2 * PART_SIZE - HEADER)
ONE_PART_PLUS_ONE = plain_size_of_body(PART_SIZE + 1 - HEADER)
SIZES = [0, 1, 65_535, 65_536, 65_537, EXACT_TWO_PARTS, ONE_PART_PLUS_ONE]


def listing(runner: CliRunner, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = runner.invoke(app, ["ls", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {item["alias"]: item for item in json.loads(result.stdout)}


def assert_inbox_decrypts(
    endpoints: dict[str, Any], file_id: str, original: Path, tmp_path: Path, parts: int
) -> None:
    """The inbox object is a standard Crypt4GH file of the original, in ``parts`` parts."""
    head = s3(endpoints).head_object(Bucket=inbox_bucket(endpoints), Key=file_id)
    assert head["ContentLength"] == encrypted_size(original.stat().st_size)
    assert head["ETag"].strip('"').endswith(f"-{parts}")
    encrypted = tmp_path / f"{file_id}.c4gh"
    encrypted.write_bytes(inbox_object(endpoints, file_id))
    key_file = write_raw_private_key(tmp_path / "archive.sec", archive_private_key(endpoints))
    decrypted = tmp_path / f"{file_id}.out"
    decrypt_with_tool(encrypted, key_file, decrypted)
    assert decrypted.read_bytes() == original.read_bytes()


def test_edge_sizes_upload_and_decrypt(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    assert encrypted_size(EXACT_TWO_PARTS) == 2 * PART_SIZE
    assert encrypted_size(ONE_PART_PLUS_ONE) == PART_SIZE + 1
    data = tmp_path / "data"
    data.mkdir()
    lines = []
    for size in SIZES:
        path = data / f"file-{size}.bin"
        path.write_bytes(os.urandom(size))
        lines.append(f"{path}\talias-{size}")
    tsv = tmp_path / "files.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    env = connector_env(endpoints, box, home)
    result = runner.invoke(app, ["upload", "--tsv", str(tsv)], env=env)
    assert result.exit_code == 0, result.output
    assert f"Done: {len(SIZES)} uploaded" in result.stderr
    items = listing(runner, env)
    assert set(items) == {f"alias-{size}" for size in SIZES}
    for size in SIZES:
        item = items[f"alias-{size}"]
        assert (item["state"], item["status"], item["decrypted_size"]) == ("inbox", "inbox", size)
        assert item["encrypted_size"] == encrypted_size(size)
        assert item["part_size"] == PART_SIZE
        parts = -(-encrypted_size(size) // PART_SIZE)
        assert item["part_count"] == parts
        assert_inbox_decrypts(endpoints, item["id"], data / f"file-{size}.bin", tmp_path, parts)
    # the resume records are gone once the uploads are closed
    assert not list((home / "state" / "fs-connector").glob("*.json"))


def test_multipart_upload_as_subprocess_then_rerun_skips(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    original = tmp_path / "reads.bam"
    original.write_bytes(os.urandom(30 * 1024 * 1024 + 12_345))
    env = connector_env(endpoints, box, home, FS_CONNECTOR_CONCURRENCY="3")
    first = run_cli(["upload", str(original)], env)
    assert first.returncode == 0, first.stderr
    assert "reads.bam: uploaded (file id" in first.stderr
    items = listing(CliRunner(), env)
    file_id = items["reads.bam"]["id"]
    assert items["reads.bam"]["part_count"] == 7
    assert_inbox_decrypts(endpoints, file_id, original, tmp_path, 7)

    again = run_cli(["upload", str(original)], env)
    assert again.returncode == 0, again.stderr
    assert "reads.bam: skipped (already in the box: inbox)" in again.stderr
    assert [i["id"] for i in listing(CliRunner(), env).values()] == [file_id]


def test_a_failed_file_does_not_stop_the_batch(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    env = connector_env(endpoints, box, home)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "x.txt").write_bytes(b"one")
    (second / "x.txt").write_bytes(b"a longer content")
    (second / "y.txt").write_bytes(b"why")
    assert run_cli(["upload", str(first / "x.txt")], env).returncode == 0
    result = run_cli(["upload", str(second / "x.txt"), str(second / "y.txt")], env)
    assert result.returncode == 1
    assert "x.txt: failed (the box already holds another file (3 bytes, inbox)" in result.stderr
    assert "y.txt: uploaded" in result.stderr
    assert "Done with failures: 1 failed, 1 uploaded." in result.stderr
    assert {a: i["state"] for a, i in listing(CliRunner(), env).items()} == {
        "x.txt": "inbox",
        "y.txt": "inbox",
    }


def test_a_full_box_stops_the_batch(
    endpoints: dict[str, Any], operator: Operator, keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    small = upload_box(operator, keys, max_size=2000)
    env = connector_env(endpoints, small, home)
    for name, size in (("a", 100), ("b", 5000), ("c", 10)):
        (tmp_path / name).write_bytes(os.urandom(size))
    result = run_cli(["upload", *(str(tmp_path / n) for n in "abc")], env)
    assert result.returncode == 1
    assert "a: uploaded" in result.stderr
    assert "would exceed the size limit of the upload box" in result.stderr
    assert "Stopped: 1 uploaded, 1 failed, 1 not attempted." in result.stderr
    assert set(listing(CliRunner(), env)) == {"a"}


def test_quiet_prints_nothing(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"hello")
    result = run_cli(["upload", "--quiet", str(path)], connector_env(endpoints, box, home))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (
        listing(CliRunner(), connector_env(endpoints, box, home))["small.txt"]["state"] == "inbox"
    )


@pytest.mark.parametrize("status", [503, 429])
def test_transient_failures_are_retried(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path, status: int
) -> None:
    """The first PUT of every part fails (through a proxy); the retries succeed."""
    original = tmp_path / "retry.bin"
    original.write_bytes(os.urandom(PART_SIZE + 1000))
    proxy = RecordingProxy()
    proxy.fail_first = status
    try:
        env = connector_env(endpoints, box, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        result = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    assert sorted(proxy.puts(status)) == [1, 2]
    assert sorted(proxy.puts(200)) == [1, 2]
    file_id = listing(CliRunner(), connector_env(endpoints, box, home))["retry.bin"]["id"]
    assert_inbox_decrypts(endpoints, file_id, original, tmp_path, 2)
