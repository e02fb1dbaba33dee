"""The seaweedfs backend's stack: SeaweedFS's logs and data files are 0600 like the rest,
and no log (SeaweedFS's, moto's, OpenBao's, the functions') holds the root token or a
presigned URL's signature (checks of tests/stack/test_log_files.py)."""

from __future__ import annotations

from testbed.process import StackProcess
from tests.seaweedfs.conftest import sw_client
from tests.stack.test_log_files import (
    assert_no_presigned_query,
    assert_no_root_token,
    assert_private,
)


def test_seaweedfs_stack_logs_are_private_and_hold_no_secret(sw_stack: StackProcess) -> None:
    assert_no_presigned_query(sw_stack, sw_client(sw_stack.endpoints, "s3"))
    assert_no_root_token(sw_stack)
    assert (sw_stack.state_dir / "logs" / "seaweedfs.log").exists()
    assert_private(sw_stack)
