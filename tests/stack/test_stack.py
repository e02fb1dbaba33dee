"""fs-stack: starts everything, a second stack keeps out of the first's way, stops clean."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from testbed.process import free_port_base
from tests.support import REPO, RunningStack, start_stack


def _processes_mentioning(*needles: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port.split("/")[0]))) == 0


def test_endpoints_file_is_complete_and_private(running_stack: RunningStack) -> None:
    endpoints = running_stack.endpoints
    for name in ("wkvs_url", "aws_endpoint_url", "vault_addr", "operator_token", "vault_token"):
        assert endpoints[name]
    mode = stat.S_IMODE((running_stack.state_dir / "endpoints.json").stat().st_mode)
    assert mode == 0o600
    health = httpx.get(f"{endpoints['vault_addr']}/v1/sys/health").json()
    assert health["initialized"] and not health["sealed"]


def test_resources_of_the_declaration_exist(running_stack: RunningStack) -> None:
    from shared.adapters.aws import client
    from shared.resources import DECLARATION, bucket_name, dlq_name, queue_name

    pfx = running_stack.endpoints["resource_prefix"]
    buckets = {b["Name"] for b in client("s3").list_buckets()["Buckets"]}
    assert {bucket_name(b.key, pfx) for b in DECLARATION.buckets} <= buckets
    sqs = client("sqs")
    for queue in DECLARATION.queues:
        sqs.get_queue_url(QueueName=queue_name(queue.key, pfx))
        sqs.get_queue_url(QueueName=dlq_name(queue.key, pfx))
    tables = set(client("dynamodb").list_tables()["TableNames"])
    assert {f"{pfx}-{t.key}" for t in DECLARATION.tables} <= tables


def test_second_stack_runs_beside_the_first_and_stops_clean(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    first = running_stack.endpoints
    second = start_stack(tmp_path / "second")
    try:
        assert second.endpoints["api_url"] != first["api_url"]
        for endpoints in (first, second.endpoints):
            assert httpx.get(f"{endpoints['wkvs_url']}/values").status_code == 200
        # each stack has its own archive key and its own secrets
        assert second.endpoints["archive_public_key"] != first["archive_public_key"]
        assert second.endpoints["operator_token"] != first["operator_token"]
    finally:
        assert second.stop() == 0
    aws_port = second.endpoints["aws_endpoint_url"].rsplit(":", 1)[1]
    vault_listen = second.endpoints["vault_addr"].split("//")[1]
    assert _processes_mentioning(f"-p {aws_port}", vault_listen) == []
    for url in (
        second.endpoints["api_url"],
        second.endpoints["aws_endpoint_url"],
        second.endpoints["vault_addr"],
    ):
        assert not _port_open(url)
    assert not (second.state_dir / "endpoints.json").exists()
    # and the first is untouched
    assert httpx.get(f"{first['wkvs_url']}/values").status_code == 200


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    base = free_port_base()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 1))
        blocker.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "testbed.stack",
                "up",
                "--port-base",
                str(base),
                "--state-dir",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {base + 1}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_non_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbed.stack",
            "up",
            "--host",
            "0.0.0.0",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "loopback" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigint_stops_like_sigterm(tmp_path: Path) -> None:
    import signal

    stack = start_stack(tmp_path / "sigint")
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=30) == 0
    assert not _port_open(stack.endpoints["aws_endpoint_url"])
