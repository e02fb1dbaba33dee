"""Interrupted downloads resume from the ranges on disk; expired links, broken answers and
files still being staged are waited out or retried. A recording proxy sits between the
connector and everything it talks to, and misbehaves on purpose."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from connector.download.plain import aligned_range_size
from connector.download.ranges import Intervals
from connector.output import human_size
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE
from tests.connector.download_helpers import (
    RangeProxy,
    download_env,
    download_package,
    register_only,
    resume_record,
    run_download,
    stage,
    wait_until,
)
from tests.connector.helpers import BIN, KeyFiles
from tests.dcs.helpers import ArchivedFile, decrypt_c4gh, put_in_outbox, report_staged
from tests.support import EventStream, Operator

RANGE = 65_536
RANGES = 10
ALLOWED = 3


@pytest.fixture(scope="module")
def ten_ranges(endpoints: dict[str, Any], operator: Operator) -> ArchivedFile:
    """Content of exactly RANGES ranges (the last one short)."""
    return stage(endpoints, operator, os.urandom(RANGES * RANGE - 5_000))


def _proxied(endpoints: dict[str, Any], package, home: Path, proxy: RangeProxy, **extra: str):
    return download_env(
        endpoints, package, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url, **extra
    )


def _drs_statuses(proxy: RangeProxy, f: ArchivedFile) -> list[int]:
    return [s for path, s in proxy.requests("GET", f.file_id) if path.endswith(f.file_id)]


def _assert_downloaded(directory: Path, f: ArchivedFile, keys: KeyFiles) -> None:
    encrypted = (directory / f"{f.file_id}.c4gh").read_bytes()
    assert decrypt_c4gh(encrypted, keys.user.private_key) == f.plain
    assert not list(directory.glob("*.part*"))


@pytest.mark.parametrize(
    ("how", "plain"),
    [
        (signal.SIGINT, False),
        (signal.SIGKILL, False),
        (signal.SIGINT, True),
        (signal.SIGKILL, True),
    ],
    ids=["ctrl-c", "killed", "plaintext-only-ctrl-c", "plaintext-only-killed"],
)
def test_an_interrupted_download_fetches_only_the_missing_ranges(
    endpoints: dict[str, Any],
    operator: Operator,
    ten_ranges: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
    how: signal.Signals,
    plain: bool,
) -> None:
    """Without --decrypt the .c4gh's ranges are kept; with --decrypt alone, the plaintext of
    the ranges (no ciphertext is written), which the rerun hashes again from the disk."""
    f = ten_ranges
    step = aligned_range_size(RANGE) if plain else RANGE
    asked = ["--range-size", str(RANGE)] + (["--decrypt"] if plain else [])
    package = download_package(operator, keys, [f.file_id])
    out = tmp_path / "out"
    out.mkdir()
    proxy = RangeProxy()
    proxy.allow_ranges = ALLOWED
    env = _proxied(endpoints, package, home, proxy, FS_CONNECTOR_CONCURRENCY="2")
    command = [str(BIN / "fs-connector"), "download", "--output-dir", str(out)]
    process = subprocess.Popen(
        [*command, *asked],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.held.wait(120), "the connector never reached a held-back range"
        # the ranges that got through (any three: requests race) are recorded before the end
        wait_until(lambda: len(_answered(proxy)) == ALLOWED, what="three answered ranges")
        stored = _answered(proxy)
        expected = Intervals((s, min(s + step, len(f.content))) for s in stored).items()
        recorded = [list(interval) for interval in expected]
        wait_until(
            lambda: (resume_record(out, f.file_id, plain) or {}).get("done") == recorded,
            what=lambda: f"a record of {expected}: {resume_record(out, f.file_id, plain)}",
        )
        process.send_signal(how)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        proxy.close()
    if how == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert "Partial downloads are kept: run the same command again to resume." in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    assert not (out / f"{f.file_id}.c4gh").exists()
    if plain:  # the plaintext of the ranges that came, under its temporary name, alone
        names = sorted(p.name for p in out.iterdir())
        assert names == [f"{f.file_id}.part", f"{f.file_id}.part.json"], names
        assert (out / f"{f.file_id}.part").stat().st_mode & 0o077 == 0
    else:
        assert (out / f"{f.file_id}.c4gh.part").exists()
    assert _answered(proxy) == stored

    again = RangeProxy()
    try:
        result = run_download(_proxied(endpoints, package, home, again), out, *asked)
    finally:
        again.close()
    assert result.exit_code == 0, result.stderr
    assert f"{f.file_id}: resumed (" in result.stderr
    kept = sum(end - start for start, end in expected)
    resumed = f"{human_size(kept)} of {human_size(len(f.content))} were already there"
    assert resumed in result.stderr
    # only the ranges that were missing, each once
    assert sorted(start for start, *_ in again.ranges) == sorted(
        set(range(0, len(f.content), step)) - set(stored)
    )
    if plain:
        assert "sha-256 verified" in result.stderr
        assert sorted(p.name for p in out.iterdir()) == [f.file_id]
        assert (out / f.file_id).read_bytes() == f.plain
    else:
        _assert_downloaded(out, f, keys)


def _answered(proxy: RangeProxy) -> list[int]:
    """Starts of the ranges the storage answered (through the proxy)."""
    return sorted({start for start, _, status in proxy.ranges if status == 206})


def test_an_expired_link_is_renewed_and_the_range_retried(
    endpoints: dict[str, Any],
    operator: Operator,
    ten_ranges: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    """S3 refuses a range with 403 (moto checks no expiry: the proxy plays it)."""
    f = ten_ranges
    package = download_package(operator, keys, [f.file_id])
    proxy = RangeProxy()
    proxy.fail_once[4 * RANGE] = 403
    try:
        env = _proxied(endpoints, package, home, proxy)
        result = run_download(env, tmp_path, "--range-size", str(RANGE))
    finally:
        proxy.close()
    assert result.exit_code == 0, result.stderr
    assert [status for start, _, status in proxy.ranges if start == 4 * RANGE] == [403, 206]
    # the DRS object at first, and a fresh one (a new link) after the 403
    assert _drs_statuses(proxy, f) == [200, 200]
    assert sorted({start for start, *_ in proxy.ranges}) == list(range(0, len(f.content), RANGE))
    _assert_downloaded(tmp_path, f, keys)


def test_an_answer_that_breaks_off_is_continued(
    endpoints: dict[str, Any],
    operator: Operator,
    ten_ranges: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    f = ten_ranges
    package = download_package(operator, keys, [f.file_id])
    proxy = RangeProxy()
    proxy.short_once.add(2 * RANGE)
    try:
        env = _proxied(endpoints, package, home, proxy)
        asked = ["--range-size", str(RANGE), "--decrypt", "--keep-encrypted"]
        result = run_download(env, tmp_path, *asked)
    finally:
        proxy.close()
    assert result.exit_code == 0, result.stderr
    # the broken answer's first half was kept: only the rest was asked for again
    assert (2 * RANGE + RANGE // 2, 3 * RANGE - 1, 206) in proxy.ranges, str(proxy.ranges)
    _assert_downloaded(tmp_path, f, keys)
    assert (tmp_path / f.file_id).read_bytes() == f.plain


def test_a_broken_answer_of_the_plaintext_alone_continues_from_a_whole_segment(
    endpoints: dict[str, Any],
    operator: Operator,
    ten_ranges: ArchivedFile,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    """Half a range arrives (1.5 segments): the whole one is decrypted and kept, the rest is
    asked for again from the second segment's start."""
    f = ten_ranges
    segment = CIPHER_SEGMENT_SIZE
    step = 3 * segment
    package = download_package(operator, keys, [f.file_id])
    proxy = RangeProxy()
    proxy.short_once.add(step)
    try:
        env = _proxied(endpoints, package, home, proxy)
        result = run_download(env, tmp_path, "--range-size", str(step), "--decrypt")
    finally:
        proxy.close()
    assert result.exit_code == 0, result.stderr
    assert (step + segment, 2 * step - 1, 206) in proxy.ranges, str(proxy.ranges)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.file_id, "home", "keys"]
    assert (tmp_path / f.file_id).read_bytes() == f.plain


def test_a_file_being_staged_is_waited_for(
    endpoints: dict[str, Any],
    operator: Operator,
    keys: KeyFiles,
    home: Path,
    tmp_path: Path,
) -> None:
    """DCS answers 202 until the test, playing IFRS, stages the file after that answer."""
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    proxy = RangeProxy()
    failures: list[BaseException] = []
    try:
        f = register_only(endpoints, os.urandom(100_000))
        package = download_package(operator, keys, [f.file_id])

        def play_ifrs() -> None:
            try:
                stream.wait_for("NonStagedFileRequested", f.file_id, timeout=60)
                wait_until(
                    lambda: (f"/dcs/objects/{f.file_id}", 202) in proxy.requests("GET", f.file_id),
                    what="a 202 for the connector",
                )
                put_in_outbox(endpoints, f)
                report_staged(endpoints, f)
            except BaseException as error:  # reported by the test
                failures.append(error)

        ifrs = threading.Thread(target=play_ifrs, daemon=True)
        ifrs.start()
        env = _proxied(endpoints, package, home, proxy)
        result = run_download(env, tmp_path, "--max-wait", "60", "--decrypt")
        ifrs.join(timeout=70)
    finally:
        proxy.close()
        stream.close()
    assert not failures, failures
    assert result.exit_code == 0, result.stderr
    assert "the archive is preparing this file for download; waiting" in result.stderr
    statuses = _drs_statuses(proxy, f)
    assert statuses[0] == 202 and statuses[-1] == 200 and len(statuses) >= 2, statuses
    assert (tmp_path / f.file_id).read_bytes() == f.plain
