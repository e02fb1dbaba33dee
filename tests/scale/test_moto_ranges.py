"""testbed/moto_ranges.py answers ranged GETs and part copies exactly as moto does, and
accepts the scaled minimum part size: the same requests to both servers, the same answers.
Fast (two small moto servers, a few MB)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest

from testbed.process import free_port_base
from tests.scale.conftest import SCALED_MIN_PART_SIZE
from tests.support import REPO

SIZE = 3 * 1024**2 + 17
RANGES = [
    "bytes=0-0",
    "bytes=0-65563",
    "bytes=65564-131127",
    f"bytes={SIZE - 10}-",
    f"bytes={SIZE - 10}-{SIZE + 100}",  # past the end: cut at the end
    "bytes=100-",
    "bytes=-10",  # a suffix: left to moto itself
    f"bytes=0-{SIZE - 1}",
]


def _server(module: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "S3_UPLOAD_PART_MIN_SIZE": str(SCALED_MIN_PART_SIZE)}
    process = subprocess.Popen(
        [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{module} did not start")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    base = free_port_base(2)
    processes = {
        "moto": _server("moto.server", base),
        "ranges": _server("testbed.moto_ranges", base + 1),
    }
    clients = {
        name: boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{base + offset}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for offset, name in enumerate(processes)
    }
    data = os.urandom(SIZE)
    for s3 in clients.values():
        s3.create_bucket(Bucket="bucket")
        s3.put_object(Bucket="bucket", Key="object", Body=data)
    try:
        yield clients
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=10)


def _get(s3: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        answer = s3.get_object(Bucket="bucket", Key="object", **kwargs)
    except botocore.exceptions.ClientError as error:
        return ("error", error.response["Error"]["Code"])
    return (
        answer["ResponseMetadata"]["HTTPStatusCode"],
        answer.get("ContentRange"),
        answer["ContentLength"],
        answer["ETag"],
        answer["Body"].read(),
    )


@pytest.mark.parametrize("requested", RANGES)
def test_a_range_is_answered_as_moto_answers_it(servers: dict[str, Any], requested: str) -> None:
    assert _get(servers["ranges"], Range=requested) == _get(servers["moto"], Range=requested)


def test_beyond_the_end_and_whole_objects_are_answered_as_moto_answers_them(
    servers: dict[str, Any],
) -> None:
    beyond = f"bytes={SIZE + 5}-"
    assert _get(servers["ranges"], Range=beyond) == _get(servers["moto"], Range=beyond)
    assert _get(servers["ranges"], Range=beyond)[0] == "error"
    assert _get(servers["ranges"]) == _get(servers["moto"])
    assert _get(servers["ranges"], PartNumber=1) == _get(servers["moto"], PartNumber=1)


def _copy_in_parts(s3: Any, key: str) -> bytes:
    """The object copied into ``key`` in parts of the scaled minimum (the last shorter)."""
    upload = s3.create_multipart_upload(Bucket="bucket", Key=key)["UploadId"]
    parts = []
    starts = range(0, SIZE, 20 * SCALED_MIN_PART_SIZE)
    for number, start in enumerate(starts, 1):
        end = min(start + 20 * SCALED_MIN_PART_SIZE, SIZE) - 1
        answer = s3.upload_part_copy(
            Bucket="bucket",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            CopySource={"Bucket": "bucket", "Key": "object"},
            CopySourceRange=f"bytes={start}-{end}",
        )
        parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(
        Bucket="bucket", Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return s3.get_object(Bucket="bucket", Key=key)["Body"].read()


def test_a_part_copy_takes_the_range_as_moto_takes_it(servers: dict[str, Any]) -> None:
    copied = _copy_in_parts(servers["ranges"], "copy")
    assert copied == _copy_in_parts(servers["moto"], "copy")
    assert copied == servers["moto"].get_object(Bucket="bucket", Key="object")["Body"].read()
    heads = [s3.head_object(Bucket="bucket", Key="copy") for s3 in servers.values()]
    assert heads[0]["ETag"] == heads[1]["ETag"] and heads[0]["ETag"].endswith('-3"')
