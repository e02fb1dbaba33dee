"""One copy of an object above 5 GiB (S3 refuses a single CopyObject above that, so only a
multipart copy gets it through), on SeaweedFS: moto reads the whole source object for every
UploadPartCopy, which for 82 parts of a 5.1 GiB object would take hours.

The deployed copy policy (64 MiB parts, 16 in flight), handed on after two batches and
resumed from the checkpoint by a second turn, as a copy longer than one invocation is.
Heavy (about 5 GiB written twice and read once): ``-m "not heavy"`` skips it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.ifrs.copier import Copier, CopyJob
from functions.ifrs.model import CopySettings, Invocation, OutboxCopy
from shared.adapters.s3 import S3Storage
from shared.multipart import GIB, MIB, part_count
from testbed import seaweedfs
from testbed.process import free_port_base
from tests.support import require_seaweedfs

pytestmark = pytest.mark.heavy

SOURCE_PART = 40 * MIB  # not a multiple of the copy's part size: every copy part straddles
SIZE = 5 * GIB + 100 * MIB  # above S3's single-copy limit of 5 GiB


@pytest.fixture(scope="module")
def weed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A SeaweedFS server alone (S3 only), on loopback ports of its own."""
    require_seaweedfs()
    base = free_port_base(seaweedfs.PORT_COUNT)
    credentials = seaweedfs.Credentials.generate()
    argv, env, root = seaweedfs.command(
        "127.0.0.1", base, tmp_path_factory.mktemp("weed"), credentials
    )
    with (root / "logs" / "weed.out").open("wb") as log:
        weed = subprocess.Popen(argv, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not seaweedfs.ready("127.0.0.1", base):
            if weed.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"SeaweedFS did not start (see {root / 'logs'})")
            time.sleep(0.5)
        yield boto3.client(
            "s3",
            endpoint_url=seaweedfs.s3_url("127.0.0.1", base),
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                max_pool_connections=32,
                request_checksum_calculation="when_required",
            ),
        )
    finally:
        weed.terminate()
        try:
            weed.wait(timeout=seaweedfs.STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            weed.kill()
            weed.wait()
        seaweedfs.remove_sockets(base)
        shutil.rmtree(Path(root), ignore_errors=True)


def _source_part(number: int, base: bytes, size: int) -> bytes:
    """Part ``number`` of the source: stamped with its number, so a range copied from the
    wrong offset shows."""
    return (struct.pack(">Q", number) + base[8:])[:size]


def _put_source(s3: Any, bucket: str, key: str) -> str:
    """The source object, uploaded in 40 MiB parts, four at a time; the MD5 of its bytes."""
    base = os.urandom(SOURCE_PART)
    whole = hashlib.md5(usedforsecurity=False)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    futures: list[Future[Any]] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for number in range(1, part_count(SIZE, SOURCE_PART) + 1):
            size = min(SOURCE_PART, SIZE - (number - 1) * SOURCE_PART)
            data = _source_part(number, base, size)
            whole.update(data)
            while sum(not f.done() for f in futures) >= 4:  # bounded memory
                wait(futures, return_when=FIRST_COMPLETED)
            futures.append(
                pool.submit(
                    s3.upload_part,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    Body=data,
                )
            )
    parts = [
        {"PartNumber": number, "ETag": future.result()["ETag"]}
        for number, future in enumerate(futures, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return whole.hexdigest()


def _md5_of(s3: Any, bucket: str, key: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in body.iter_chunks(8 * MIB):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.timeout(1800)
def test_an_object_above_5_gib_is_copied_in_parts_and_resumed_on_seaweedfs(
    weed_s3: Any,
) -> None:
    for bucket in ("staging", "permanent"):
        weed_s3.create_bucket(Bucket=bucket)
    started = time.monotonic()
    expected = _put_source(weed_s3, "staging", "staged")
    uploaded = time.monotonic()
    assert weed_s3.head_object(Bucket="staging", Key="staged")["ContentLength"] == SIZE

    settings = CopySettings()  # the deployed policy: 64 MiB parts, 16 in flight
    copier = Copier(storage=S3Storage(weed_s3), settings=settings)
    progress = OutboxCopy(target_object_id="copy", file_id="f")
    saves: list[int] = []
    job = CopyJob("staging", "staged", "permanent", "copy", SIZE)

    def save() -> None:
        saves.append(progress.copy_parts_done)

    first = Invocation(CopySettings(max_parts_per_invocation=32))
    assert copier.copy(job, progress, save, first) is False  # two batches, then handed on
    assert progress.copy_parts_done == 32 and progress.copy_upload_id is not None
    assert copier.copy(job, progress, save, Invocation(settings)) is True
    copied = time.monotonic()

    parts = part_count(SIZE, 64 * MIB)
    assert parts == 82
    assert saves == [0, 16, 32, 48, 64, 80, 82]
    head = weed_s3.head_object(Bucket="permanent", Key="copy")
    assert head["ContentLength"] == SIZE
    assert head["ETag"].strip('"').endswith(f"-{parts}")
    assert weed_s3.list_multipart_uploads(Bucket="permanent").get("Uploads", []) == []
    assert _md5_of(weed_s3, "permanent", "copy") == expected
    print(  # the time this test takes, for docs/limits.md
        f"\n5.1 GiB on SeaweedFS: upload {uploaded - started:.0f} s, "
        f"copy of {parts} parts {copied - uploaded:.0f} s, "
        f"read back {time.monotonic() - copied:.0f} s"
    )
