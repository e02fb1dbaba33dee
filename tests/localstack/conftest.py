"""One stack on the localstack-host backend for this directory: S3, SQS, SNS on LocalStack."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from testbed import localstack_host
from testbed.process import StackProcess, start_stack_process


def free_port() -> int:
    """A loopback port free right now (fs-stack checks it again before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def localstack_installed() -> bool:
    try:
        localstack_host.python()
    except localstack_host.LocalStackMissing:
        return False
    return True


@pytest.fixture(scope="module")
def ls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    if not localstack_installed():
        message = "LocalStack is not installed: run `make localstack-venv`"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run these tests)")
        pytest.skip(message)
    stack = start_stack_process(
        tmp_path_factory.mktemp("ls-stack") / "state",
        "--backend",
        "localstack-host",
        "--localstack-port",
        str(free_port()),
    )
    try:
        yield stack
    finally:
        stack.stop(timeout=60)


@pytest.fixture(scope="module")
def ls_endpoints(ls_stack: StackProcess) -> dict[str, Any]:
    return ls_stack.endpoints


def ls_client(endpoints: dict[str, Any], service: str, endpoint: str | None = None) -> Any:
    """A boto3 client for the LocalStack stack, with the credentials its services use."""
    return boto3.client(
        service,
        endpoint_url=endpoint or endpoints["aws_endpoint_url"],
        region_name=endpoints["aws_region"],
        aws_access_key_id=endpoints["aws_access_key_id"],
        aws_secret_access_key=endpoints["aws_secret_access_key"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
