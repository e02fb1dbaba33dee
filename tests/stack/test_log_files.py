"""The stack's log files are its user's alone and hold no secret: OpenBao's has no root
token (the dev server's banner, which prints it, is dropped), moto's has no presigned URL
query (testbed/moto_ranges.py strips request lines' queries), and no file under the state
directory, nor the stack's own output (the functions' logs), is readable by others.

The checks are functions so that tests/seaweedfs/test_log_files.py runs them on the
seaweedfs backend's stack too (SeaweedFS's own logs and data files).
"""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import httpx

from testbed.events import aws
from testbed.process import StackProcess


def assert_private(stack: StackProcess) -> None:
    """Every directory the stack made and every log: no bit for group or others. (Data
    files inside, such as SeaweedFS's volume info that it chmods 0644 itself, are out of
    reach behind the directories.)"""
    logs = {p.name for p in (stack.state_dir / "logs").iterdir()}
    assert {"moto.log", "openbao.log"} <= logs, logs
    directories = [stack.state_dir, *(p for p in stack.state_dir.rglob("*") if p.is_dir())]
    for path in [*directories, *_logs(stack)]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {oct(mode)}"


def assert_no_root_token(stack: StackProcess) -> None:
    root = stack.endpoints["vault_token"]
    # the token works (it is the stack's root token) and is written nowhere but endpoints
    answer = httpx.get(
        f"{stack.endpoints['vault_addr']}/v1/auth/token/lookup-self",
        headers={"X-Vault-Token": root},
    )
    assert answer.status_code == 200
    text = (stack.state_dir / "logs" / "openbao.log").read_text()
    assert "core: vault is unsealed" in text  # the log is there and is the server's
    assert root not in text and "Root Token" not in text and "Unseal Key" not in text
    for path in _logs(stack):
        assert root not in path.read_text(errors="replace"), path


def assert_no_presigned_query(stack: StackProcess, s3: Any) -> str:
    """A presigned GET through the stack's S3, then no log holds its signature or
    credential; the URL's path (bucket and key), for the caller's own checks."""
    bucket = f"logs-{uuid.uuid4().hex[:8]}"
    region = stack.endpoints["aws_region"]
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == b"payload"
    query = url.partition("?")[2]
    secret_parts = [
        part.split("=", 1)[1]
        for part in query.split("&")
        if part.startswith(("X-Amz-Signature=", "X-Amz-Credential="))
    ]
    assert len(secret_parts) == 2
    for path in _logs(stack):
        text = path.read_text(errors="replace")
        for part in secret_parts:
            assert part not in text, path
        assert "X-Amz-Signature=" not in text, path
    return f"/{bucket}/k"


def _logs(stack: StackProcess) -> list[Path]:
    """The stack's output (the functions' logs) and every file in a ``logs`` directory."""
    found = [
        p
        for p in stack.state_dir.rglob("*")
        if p.is_file() and not p.is_symlink() and "logs" in p.parts  # glog links its logs
    ]
    return [stack.output, *found]


def test_every_log_and_state_file_is_private(running_stack: StackProcess) -> None:
    assert_private(running_stack)


def test_openbao_log_has_no_root_token(running_stack: StackProcess) -> None:
    assert_no_root_token(running_stack)


def test_moto_log_has_no_presigned_query(running_stack: StackProcess) -> None:
    path = assert_no_presigned_query(running_stack, aws(running_stack.endpoints, "s3"))
    text = (running_stack.state_dir / "logs" / "moto.log").read_text()
    assert f"{path}?[query removed]" in text  # the request was logged, without its query
