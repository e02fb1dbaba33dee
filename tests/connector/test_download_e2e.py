"""Downloads through the real stack over HTTP: every size, ranges that tile the content,
files that decrypt with the standard crypt4gh library, --decrypt (the plaintext alone, or
with --keep-encrypted both), --quiet, --overwrite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.download.plain import aligned_range_size
from shared.crypt.c4gh import encrypted_body_size
from tests.connector.download_helpers import (
    RangeProxy,
    download_env,
    download_package,
    run_download,
    stage,
)
from tests.connector.helpers import KeyFiles
from tests.dcs.helpers import ArchivedFile, decrypt_c4gh
from tests.support import Operator

SIZES = [0, 1, 65_536, 65_537, 300_000]
RANGE = 70_000  # the 300,000-byte file (300,140 content bytes) takes five ranges


@pytest.fixture(scope="module")
def staged(endpoints: dict[str, Any], operator: Operator) -> dict[int, ArchivedFile]:
    return {size: stage(endpoints, operator, os.urandom(size)) for size in SIZES}


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".json")))


@pytest.mark.parametrize("keep", [True, False], ids=["keep-encrypted", "plaintext-only"])
def test_every_size_downloads_in_ranges_and_decrypts(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
    keep: bool,
) -> None:
    package = download_package(operator, keys, [f.file_id for f in staged.values()])
    out = tmp_path / "out"
    out.mkdir()
    proxy = RangeProxy()
    asked = ["--decrypt", "--range-size", str(RANGE)] + (["--keep-encrypted"] if keep else [])
    try:
        env = download_env(endpoints, package, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        result = run_download(env, out, *asked)
    finally:
        proxy.close()
    assert result.exit_code == 0, result.stderr
    assert f"Done: {len(SIZES)} downloaded." in result.stderr
    for size, f in staged.items():
        assert (out / f.file_id).read_bytes() == f.plain
        assert f"{f.file_id}: downloaded (" in result.stderr
        if keep:
            encrypted = (out / f"{f.file_id}.c4gh").read_bytes()
            assert len(encrypted) == 124 + encrypted_body_size(size)
            assert decrypt_c4gh(encrypted, keys.user.private_key) == f.plain  # the standard tool
    assert _leftovers(out) == []
    written = sorted(p.name for p in out.iterdir())
    if not keep:  # the plaintext alone: no ciphertext was written
        assert written == sorted(f.file_id for f in staged.values()), written
        assert "saved as" not in result.stderr
    # the content came in ranges that tile it exactly; no range for 0 bytes. The plaintext
    # alone comes in whole cipher segments (each range decrypts on its own)
    step = RANGE if keep else aligned_range_size(RANGE)
    got = sorted((start, end) for start, end, status in proxy.ranges if status == 206)
    wanted = sorted(
        (start, min(start + step, len(f.content)) - 1)
        for f in staged.values()
        for start in range(0, len(f.content), step)
    )
    assert got == wanted
    assert all(status == 206 for *_, status in proxy.ranges)


def test_verify_without_decrypt_leaves_only_the_encrypted_file(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = staged[300_000]
    env = download_env(endpoints, download_package(operator, keys, [f.file_id]), home)
    result = run_download(env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "sha-256 verified" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{f.file_id}.c4gh", "home", "keys"]


def test_quiet_prints_nothing(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = staged[1]
    env = download_env(endpoints, download_package(operator, keys, [f.file_id]), home)
    result = run_download(env, tmp_path, "--quiet", "--decrypt")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / f.file_id).read_bytes() == f.plain


def test_existing_files_are_kept_unless_overwrite(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = staged[65_537]
    env = download_env(endpoints, download_package(operator, keys, [f.file_id]), home)
    target = tmp_path / f"{f.file_id}.c4gh"
    target.write_bytes(b"an older download")

    again = run_download(env, tmp_path)
    assert again.exit_code == 0, again.stderr
    assert f"{f.file_id}: skipped ({target} exists; --overwrite downloads it again)" in (
        again.stderr
    )
    assert target.read_bytes() == b"an older download"

    replaced = run_download(env, tmp_path, "--overwrite", "--decrypt", "--keep-encrypted")
    assert replaced.exit_code == 0, replaced.stderr
    assert decrypt_c4gh(target.read_bytes(), keys.user.private_key) == f.plain
    assert (tmp_path / f.file_id).read_bytes() == f.plain

    target.unlink()  # the plaintext is still there: --decrypt would replace it
    refused = run_download(env, tmp_path, "--decrypt", "--keep-encrypted")
    assert refused.exit_code == 1, refused.stderr
    assert f"{tmp_path / f.file_id} exists; --overwrite replaces it" in refused.stderr
    assert not target.exists()

    # the plaintext alone: an existing plaintext is the finished download
    plain = tmp_path / f.file_id
    plain.write_bytes(b"an older plaintext")
    kept = run_download(env, tmp_path, "--decrypt")
    assert kept.exit_code == 0, kept.stderr
    assert f"{f.file_id}: skipped ({plain} exists; --overwrite downloads it again)" in (kept.stderr)
    assert plain.read_bytes() == b"an older plaintext"
    again = run_download(env, tmp_path, "--decrypt", "--overwrite")
    assert again.exit_code == 0, again.stderr
    assert plain.read_bytes() == f.plain and not target.exists()


def test_a_file_id_outside_the_package_is_bad_input(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = staged[1]
    env = download_env(endpoints, download_package(operator, keys, [f.file_id]), home)
    result = CliRunner().invoke(
        app,
        ["download", "--output-dir", str(tmp_path), "--file-id", "not-in-it"],
        env=env,
    )
    assert result.exit_code == 2, result.stderr
    assert f"Not in this work package: not-in-it. It holds: {f.file_id}." in result.stderr
    missing = CliRunner().invoke(
        app, ["download", "--output-dir", str(tmp_path / "nowhere")], env=env
    )
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


def test_memory_stays_at_a_few_buffers_however_many_ranges(
    endpoints: dict[str, Any],
    operator: Operator,
    staged: dict[int, ArchivedFile],
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 ranges, three in flight: no more than three buffers are ever made."""
    import connector.download.downloader as downloader

    pools: list[Any] = []

    class CountedPool(downloader.BufferPool):
        def __init__(self, size: int) -> None:
            super().__init__(size)
            pools.append(self)

    monkeypatch.setattr(downloader, "BufferPool", CountedPool)
    f = staged[300_000]
    env = download_env(endpoints, download_package(operator, keys, [f.file_id]), home)
    result = run_download(env, tmp_path, "--range-size", "1000", "--concurrency", "3")
    assert result.exit_code == 0, result.stderr
    assert decrypt_c4gh((tmp_path / f"{f.file_id}.c4gh").read_bytes(), keys.user.private_key) == (
        f.plain
    )
    (pool,) = pools
    assert 1 <= pool.created <= 3
