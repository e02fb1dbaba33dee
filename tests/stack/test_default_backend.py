"""The stack a newcomer gets (``fs-stack up``, ``make stack``, ``make testbed`` with no
backend named) is SeaweedFS for S3: it refuses a tampered presigned URL, as AWS does; the
suite's own stacks stay on moto, which always runs through testbed/moto_ranges.py."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed import journey
from testbed.process import StackProcess, start_stack_process
from tests.localstack.conftest import ls_client
from tests.support import RunningStack, require_seaweedfs


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """``fs-stack up`` exactly as ``make stack`` runs it: no ``--backend``."""
    require_seaweedfs()
    stack = start_stack_process(tmp_path_factory.mktemp("default-stack") / "state")
    try:
        yield stack
    finally:
        assert stack.stop(timeout=60) == 0


def test_the_default_stack_puts_s3_on_seaweedfs_and_the_rest_on_moto(
    default_stack: StackProcess,
) -> None:
    endpoints = default_stack.endpoints
    assert endpoints["backend"] == "seaweedfs"
    assert endpoints["aws_endpoint_url"] != endpoints["sqs_endpoint_url"]
    assert endpoints["sqs_endpoint_url"] == endpoints["dynamodb_endpoint_url"]
    assert (default_stack.state_dir / "seaweedfs" / "s3.json").exists()


def test_the_default_stack_refuses_a_tampered_presigned_url(default_stack: StackProcess) -> None:
    s3 = ls_client(default_stack.endpoints, "s3")
    bucket = "probe"  # of its own: an object in the inbox would be announced to IRS
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="probe", Body=b"signed bytes")
    try:
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "probe"}, ExpiresIn=60
        )
        assert httpx.get(url).content == b"signed bytes"
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        signature = query["X-Amz-Signature"][0]
        query["X-Amz-Signature"] = [("1" if signature[0] == "0" else "0") + signature[1:]]
        tampered = parts._replace(query=urllib.parse.urlencode(query, doseq=True)).geturl()
        assert httpx.get(tampered).status_code == 403
    finally:
        s3.delete_object(Bucket=bucket, Key="probe")
        s3.delete_bucket(Bucket=bucket)


def test_the_journey_starts_the_default_backend_and_refuses_two_stacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert journey.DEFAULT_BACKEND == "seaweedfs"
    with pytest.raises(SystemExit) as exit_:
        journey.main(["--endpoints", str(tmp_path / "e.json"), "--backend", "embedded"])
    assert exit_.value.code == 2
    assert "--endpoints starts none" in capsys.readouterr().err


def _cmdline(pid: int) -> list[str]:
    return (Path(f"/proc/{pid}/cmdline").read_bytes()).decode().split("\0")


def test_the_suites_stack_is_moto_through_moto_ranges(running_stack: RunningStack) -> None:
    endpoints = running_stack.endpoints
    assert endpoints["backend"] == "embedded"
    assert endpoints["aws_endpoint_url"] == endpoints["sqs_endpoint_url"]
    port = endpoints["aws_endpoint_url"].rsplit(":", 1)[1]
    servers = [
        _cmdline(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and f"-p\0{port}\0".encode() in _read(entry / "cmdline")
    ]
    assert servers and all(argv[1:3] == ["-m", "testbed.moto_ranges"] for argv in servers)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes() + b"\0"
    except OSError:
        return b""
