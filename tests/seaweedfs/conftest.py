"""One stack on the seaweedfs backend for this directory: S3 on SeaweedFS, the rest on moto.

Package-scoped: both test modules share it (starting one takes several seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testbed.process import StackProcess, start_stack_process
from tests.localstack.conftest import ls_client
from tests.support import require_seaweedfs


@pytest.fixture(scope="package")
def sw_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    require_seaweedfs()
    stack = start_stack_process(
        tmp_path_factory.mktemp("sw-stack") / "state", "--backend", "seaweedfs"
    )
    try:
        yield stack
    finally:
        stack.stop(timeout=60)


@pytest.fixture(scope="package")
def sw_endpoints(sw_stack: StackProcess) -> dict[str, Any]:
    return sw_stack.endpoints


def sw_client(endpoints: dict[str, Any], service: str) -> Any:
    """A boto3 client for ``service`` where this stack runs it (S3 on SeaweedFS, the
    others on moto), with the stack's credentials."""
    return ls_client(endpoints, service, endpoints.get(f"{service}_endpoint_url"))
