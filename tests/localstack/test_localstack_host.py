"""The localstack-host backend: the journey on it, and what LocalStack checks that moto does not."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.adapters.s3 import S3Storage
from shared.resources import DECLARATION, bucket_name, queue_name, topic_name
from testbed.process import StackProcess, free_port_base
from tests.localstack.conftest import ls_client
from tests.support import REPO, Operator
from tests.ucs.helpers import Payload, Submitter


@pytest.mark.timeout(1200)  # the whole journey, whatever it has grown to
def test_the_journey_passes_on_localstack_host(ls_stack: StackProcess) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbed.journey",
            "--endpoints",
            str(ls_stack.state_dir / "endpoints.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "JOURNEY OK" in result.stdout


def test_s3_sqs_sns_are_localstack_and_tables_are_moto(ls_endpoints: dict[str, Any]) -> None:
    assert ls_endpoints["backend"] == "localstack-host"
    assert ls_endpoints["aws_endpoint_url"] != ls_endpoints["dynamodb_endpoint_url"]
    health = httpx.get(f"{ls_endpoints['aws_endpoint_url']}/_localstack/health").json()
    for service in ("s3", "sqs", "sns"):
        assert health["services"][service] in ("running", "available")
    pfx = ls_endpoints["resource_prefix"]
    on_localstack = {b["Name"] for b in ls_client(ls_endpoints, "s3").list_buckets()["Buckets"]}
    assert {bucket_name(b.key, pfx) for b in DECLARATION.buckets} <= on_localstack
    moto = ls_endpoints["dynamodb_endpoint_url"]
    assert ls_client(ls_endpoints, "s3", moto).list_buckets()["Buckets"] == []
    tables = set(ls_client(ls_endpoints, "dynamodb", moto).list_tables()["TableNames"])
    assert {f"{pfx}-{t.key}" for t in DECLARATION.tables} <= tables


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def test_localstack_listens_on_loopback_only(ls_endpoints: dict[str, Any]) -> None:
    port = int(ls_endpoints["aws_endpoint_url"].rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else


def _put(url: str, data: bytes) -> httpx.Response:
    return httpx.put(url, content=data, timeout=30)


def _tamper_signature(url: str) -> str:
    marker = "X-Amz-Signature="
    at = url.index(marker) + len(marker)
    return url[:at] + ("0" if url[at] != "0" else "1") + url[at + 1 :]


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def _put_refused(url: str, body: bytes | Iterator[bytes]) -> None:
    """The store refuses this PUT: 403 SignatureDoesNotMatch, or, for a body larger than
    it reads before it answers, it stops reading (LocalStack) or closes the connection.
    Either way nothing may get in: the callers check the stored parts afterwards."""
    try:
        response = httpx.put(url, content=body, timeout=httpx.Timeout(60, write=10))
    except (httpx.WriteError, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError) as e:
        # only a body far larger than the part may go unanswered
        assert isinstance(body, bytes) and len(body) > 1024**2, e
        return
    _assert_refused(response)


def assert_part_urls_take_only_the_declared_size(endpoints: dict[str, Any]) -> None:
    """The attack of issue 13: a 1 MB upload's part URL must not take 12 MiB (nor a part
    of any other size than declared): the box's quota counts the declared sizes."""
    operator = Operator(endpoints)
    submitter = Submitter(endpoints, operator, operator.create_box())
    payload = Payload.random(1_000_000)
    file_id = submitter.created("quota.bin", payload)
    (part,) = payload.parts
    response = submitter.part_url(file_id, 1)
    assert response.status_code == 200, response.text
    url = response.json()
    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == ["content-length;host"]
    for body in (os.urandom(12 * 1024**2), part + b"x", part[:-1], b""):
        _put_refused(url, body)
    _put_refused(url, iter([part]))  # chunked: no Content-Length at all
    stored = submitter.stored_parts(file_id)
    assert stored.status_code == 200 and stored.json()["parts"] == [], stored.text
    assert _put(url, part).status_code == 200  # the declared size, to the byte
    stored = submitter.stored_parts(file_id)
    assert [p["size"] for p in stored.json()["parts"]] == [len(part)], stored.text
    closed = submitter.close(file_id, payload.close_body())
    assert closed.status_code == 204, closed.text
    assert submitter.box()["used_size"] == payload.encrypted_size == len(part)


def assert_a_signed_content_md5_takes_only_those_bytes(storage: S3Storage, bucket: str) -> None:
    """The hook for a part checksum declared up front: the URL then signs Content-MD5, and
    the store takes those bytes only (the client sends that header)."""
    key = f"md5-{uuid.uuid4()}"
    upload_id = storage.create_multipart(bucket, key)
    try:
        data = os.urandom(4096)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        url = storage.presign_upload_part(
            bucket, key, upload_id, 1, 600, content_length=len(data), content_md5=md5
        )
        assert "content-md5" in parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0]
        _assert_refused(_put(url, data))  # the signed header left out
        other = httpx.put(url, content=os.urandom(len(data)), headers={"Content-MD5": md5})
        assert other.status_code == 400 and "BadDigest" in other.text, other.text
        assert storage.list_parts(bucket, key, upload_id) == []
        right = httpx.put(url, content=data, headers={"Content-MD5": md5})
        assert right.status_code == 200, right.text
        (stored,) = storage.list_parts(bucket, key, upload_id)
        assert stored.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    finally:
        storage.abort_multipart(bucket, key, upload_id)


def test_tampered_presigned_part_url_from_s3storage_is_refused(
    ls_endpoints: dict[str, Any],
) -> None:
    storage = S3Storage(ls_client(ls_endpoints, "s3"))
    bucket = bucket_name("inbox", ls_endpoints["resource_prefix"])
    key = f"tamper-{uuid.uuid4()}"
    upload_id = storage.create_multipart(bucket, key)
    try:
        url = storage.presign_upload_part(bucket, key, upload_id, 1, 600, content_length=1024)
        assert "partNumber=1" in url
        _assert_refused(_put(_tamper_signature(url), b"x" * 1024))
        _assert_refused(_put(url.replace("partNumber=1", "partNumber=2"), b"x" * 1024))
        assert storage.list_parts(bucket, key, upload_id) == []  # nothing got in
        assert _put(url, b"x" * 1024).status_code == 200
        (part,) = storage.list_parts(bucket, key, upload_id)
        assert (part.number, part.size) == (1, 1024)
    finally:
        storage.abort_multipart(bucket, key, upload_id)


def test_a_part_url_from_ucs_takes_only_the_declared_size(ls_endpoints: dict[str, Any]) -> None:
    assert_part_urls_take_only_the_declared_size(ls_endpoints)


def test_a_signed_content_md5_takes_only_those_bytes(ls_endpoints: dict[str, Any]) -> None:
    storage = S3Storage(ls_client(ls_endpoints, "s3"))
    bucket = bucket_name("inbox", ls_endpoints["resource_prefix"])
    assert_a_signed_content_md5_takes_only_those_bytes(storage, bucket)


def test_tampered_presigned_part_url_from_ucs_is_refused(ls_endpoints: dict[str, Any]) -> None:
    operator = Operator(ls_endpoints)
    submitter = Submitter(ls_endpoints, operator, operator.create_box())
    payload = Payload.random(1000)
    file_id = submitter.created("tamper.bin", payload)
    response = submitter.part_url(file_id, 1)
    assert response.status_code == 200, response.text
    url = response.json()
    assert url.startswith(ls_endpoints["aws_endpoint_url"])
    _assert_refused(_put(_tamper_signature(url), payload.parts[0]))
    _assert_refused(_put(url.replace("partNumber=1", "partNumber=3"), payload.parts[0]))
    assert _put(url, payload.parts[0]).status_code == 200
    stored = submitter.stored_parts(file_id)
    assert stored.status_code == 200, stored.text


def _bootstrap_on_localstack(endpoints: dict[str, Any], pfx: str) -> None:
    """The same bootstrap as fs-stack's, in a process of its own pointed at LocalStack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoints["aws_endpoint_url"],
            "AWS_ACCESS_KEY_ID": endpoints["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": endpoints["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": endpoints["aws_region"],
        }
    )
    code = f"from testbed.bootstrap import bootstrap; bootstrap({pfx!r}, with_tables=False)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def _receive(sqs: Any, url: str, want: int, timeout_s: float = 30) -> list[str]:
    """Up to ``want`` message bodies (S3's configuration test events left out)."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(bodies) < want and time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in response.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if '"s3:TestEvent"' not in message["Body"]:
                bodies.append(message["Body"])
    return bodies


def test_s3_notifications_and_raw_sns_delivery_reach_the_queues(
    ls_endpoints: dict[str, Any],
) -> None:
    pfx = f"chk{uuid.uuid4().hex[:6]}"
    _bootstrap_on_localstack(ls_endpoints, pfx)
    s3, sqs, sns = (ls_client(ls_endpoints, s) for s in ("s3", "sqs", "sns"))
    inbox_queue = next(q for q in DECLARATION.queues if q.s3 is not None)
    url = sqs.get_queue_url(QueueName=queue_name(inbox_queue.key, pfx))["QueueUrl"]
    key = f"object-{uuid.uuid4()}"
    s3.put_object(Bucket=bucket_name(inbox_queue.s3.bucket, pfx), Key=key, Body=b"12345")
    (body,) = _receive(sqs, url, want=1)
    (record,) = json.loads(body)["Records"]
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == bucket_name(inbox_queue.s3.bucket, pfx)
    assert (record["s3"]["object"]["key"], record["s3"]["object"]["size"]) == (key, 5)

    arns = {t["TopicArn"].rsplit(":", 1)[1]: t["TopicArn"] for t in sns.list_topics()["Topics"]}
    sent = {}
    for event_type in sorted({t for q in DECLARATION.queues for t in q.topics}):
        sent[event_type] = json.dumps({"type": event_type, "probe": str(uuid.uuid4())})
        sns.publish(TopicArn=arns[topic_name(event_type, pfx)], Message=sent[event_type])
    for queue in DECLARATION.queues:
        queue_url = sqs.get_queue_url(QueueName=queue_name(queue.key, pfx))["QueueUrl"]
        expected = sorted(sent[t] for t in queue.topics)
        # raw delivery: the message itself, no SNS envelope; each queue gets its topics only
        assert sorted(_receive(sqs, queue_url, want=len(expected))) == expected, queue.key


def test_missing_localstack_is_a_clear_error(tmp_path: Any) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testbed.stack",
            "up",
            "--backend",
            "localstack-host",
            "--port-base",
            str(free_port_base(5)),
            "--state-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env={**os.environ, "FS_LOCALSTACK_PYTHON": str(tmp_path / "no-such-python")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert (
        "LocalStack is not installed" in result.stderr and "make localstack-venv" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "endpoints.json").exists()


@pytest.mark.parametrize("backend", ["docker"])
def test_unknown_backend_is_a_usage_error(backend: str, tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "testbed.stack", "up", "--backend", backend],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_closed_upload_reaches_irs_through_localstack(ls_endpoints: dict[str, Any]) -> None:
    """UCS completes the upload on LocalStack; the inbox notification and the event reach IRS.

    The bytes are random, not Crypt4GH: IRS must report the upload as failed, which it can
    only do after S3 and SNS on LocalStack delivered to its queue.
    """
    sqs, sns = ls_client(ls_endpoints, "sqs"), ls_client(ls_endpoints, "sns")
    pfx = ls_endpoints["resource_prefix"]
    url = sqs.create_queue(QueueName=f"probe-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topics = {t["TopicArn"].rsplit(":", 1)[1]: t["TopicArn"] for t in sns.list_topics()["Topics"]}
    for event_type in ("FileInterrogationFailure", "FileInterrogationSuccess"):
        sns.subscribe(
            TopicArn=topics[topic_name(event_type, pfx)],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
    operator = Operator(ls_endpoints)
    submitter = Submitter(ls_endpoints, operator, operator.create_box())
    payload = Payload.random(1000)
    file_id = submitter.created("not-crypt4gh.bin", payload)
    submitter.put_parts(file_id, payload)
    closed = submitter.close(file_id, payload.close_body())
    assert closed.status_code == 204, closed.text
    found = []
    deadline = time.monotonic() + 120
    while not found and time.monotonic() < deadline:
        for body in _receive(sqs, url, want=1, timeout_s=2):
            event = json.loads(body)
            if file_id in body:
                found.append(event)
    assert found, "IRS did not report on the upload"
    assert found[0]["type"] == "FileInterrogationFailure", found[0]
