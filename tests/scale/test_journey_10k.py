"""A file of 10,000 parts through the whole journey, on the scaled-down stack (conftest.py).

Parts are one cipher segment (65,564 bytes), so 10,000 of them make about 656 MB: the
part count of a 5 TiB file at a size this machine moves in minutes. fs-connector uploads
it as a user would; UCS lists and checks its 10,000 parts and writes their manifest; IRS
interrogates it over several invocations; IFRS copies it to permanent storage and later
to the outbox, each over several invocations; fs-connector downloads it in ranges,
several at once, and decrypts it; the result has the original's SHA-256. On the way,
every DynamoDB item of the stack stays below 400 KB and every event seen below 256 KiB,
whatever the part count.

``FS_SCALE_PARTS`` makes the file smaller for a quick look at the harness (never below
what spans several invocations); the test as run by ``pytest -m scale`` is 10,000 parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from shared.crypt.c4gh import SEGMENT_SIZE, encrypted_size
from shared.crypt.sealedbox import seal
from shared.limits import DYNAMODB_MAX_ITEM_BYTES, SNS_MAX_MESSAGE_BYTES
from shared.manifest import PartsManifest, manifest_key
from shared.multipart import MAX_PARTS, part_count
from shared.resources import DECLARATION, bucket_name, table_name
from testbed.events import EventStream, aws
from testbed.process import StackProcess
from tests.connector.helpers import connector_env, make_keys, run_cli, upload_box
from tests.scale.conftest import (
    SCALE_IFRS_PARTS_PER_INVOCATION,
    SCALE_IRS_PARTS_PER_INVOCATION,
    SCALE_PARTS,
    SCALED_ENVIRONMENT,
    SCALED_MIN_PART_SIZE,
)
from tests.scale.sizes import dynamodb_item_bytes
from tests.support import Operator

pytestmark = pytest.mark.scale

PARTS = SCALE_PARTS
# (PARTS - 1) whole plaintext segments: a 124-byte header, then PARTS - 1 cipher segments
# of one part each, so the header spills into part PARTS
PLAIN_SIZE = (PARTS - 1) * SEGMENT_SIZE
EVENTS = (
    "FileUploadReceived",
    "FileInterrogationSuccess",
    "FileInterrogationFailure",
    "FileInternallyRegistered",
    "NonStagedFileRequested",
    "FileStagedForDownload",
    "FileDownloadServed",
)
TIMINGS: dict[str, float] = {}


class Timer:
    """Seconds per step of the journey, printed at the end (pytest -s shows them)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        TIMINGS[self.name] = time.monotonic() - self.started
        print(f"  scale journey: {self.name}: {TIMINGS[self.name]:.1f}s", flush=True)


def write_random_file(path: Path, size: int) -> str:
    """``size`` random bytes, streamed to ``path``; their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 4 * 1024**2))
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(4 * 1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def log_lines(stack: StackProcess, message: str, file_id: str) -> list[dict[str, Any]]:
    """The stack's JSON log lines with this message about this file."""
    found = []
    for line in stack.output.read_text(errors="replace").splitlines():
        if message not in line or file_id not in line:
            continue
        try:
            record = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if record.get("message") == message:
            found.append(record)
    return found


def largest_items(endpoints: dict[str, Any]) -> dict[str, int]:
    """The largest item of every table of the stack, in DynamoDB's bytes."""
    dynamodb = aws(endpoints, "dynamodb")
    largest = {}
    for table in DECLARATION.tables:
        name = table_name(table.key, endpoints["resource_prefix"])
        sizes = [0]
        for page in dynamodb.get_paginator("scan").paginate(TableName=name):
            sizes += [dynamodb_item_bytes(item) for item in page["Items"]]
        largest[table.key] = max(sizes)
    return largest


def s3_object_parts(endpoints: dict[str, Any], bucket: str, key: str) -> int:
    head = aws(endpoints, "s3").head_object(Bucket=bucket, Key=key, PartNumber=1)
    return int(head.get("PartsCount", 1))


def read_manifest_object(endpoints: dict[str, Any], bucket: str, object_id: str) -> PartsManifest:
    body = aws(endpoints, "s3").get_object(Bucket=bucket, Key=manifest_key(object_id))["Body"]
    return PartsManifest.model_validate_json(body.read())


@pytest.mark.timeout(3600)
def test_a_10000_part_file_goes_through_the_whole_journey(
    scale_stack: StackProcess, scale_endpoints: dict[str, Any], tmp_path: Path
) -> None:
    endpoints = scale_endpoints
    operator = Operator(endpoints)
    keys = make_keys(tmp_path / "keys")
    box = upload_box(operator, keys, max_size=2 * encrypted_size(PLAIN_SIZE))
    events = EventStream(endpoints, EVENTS)
    try:
        with Timer("make the file"):
            original = tmp_path / "genome.cram"
            original_sha256 = write_random_file(original, PLAIN_SIZE)
        assert part_count(encrypted_size(PLAIN_SIZE), SCALED_MIN_PART_SIZE) == PARTS

        # ---- upload: fs-connector, one cipher segment per part
        env = connector_env(
            endpoints,
            box,
            tmp_path / "home",
            **SCALED_ENVIRONMENT,
            FS_CONNECTOR_PART_SIZE=str(SCALED_MIN_PART_SIZE),
            FS_CONNECTOR_PART_URL_INTERVAL="0",
            FS_CONNECTOR_CONCURRENCY="16",
        )
        with Timer("upload"):
            result = run_cli(["upload", str(original), "--quiet"], env, timeout=3000)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        listed = operator.http.get(f"{endpoints['ucs_url']}/boxes/{box.box_id}/uploads").json()
        (upload,) = listed["items"]
        file_id = upload["id"]
        assert (upload["part_size"], upload["part_count"]) == (SCALED_MIN_PART_SIZE, PARTS)
        received = events.wait_for("FileUploadReceived", file_id, timeout=120)
        object_id = received.payload["object_id"]
        inbox = bucket_name("inbox", endpoints["resource_prefix"])
        assert s3_object_parts(endpoints, inbox, object_id) == PARTS
        ref = received.payload["parts_manifest"]
        assert ref["parts"] == PARTS and ref["key"] == manifest_key(object_id)
        declared = read_manifest_object(endpoints, ref["bucket"], object_id)
        assert (declared.parts, declared.part_size) == (PARTS, SCALED_MIN_PART_SIZE)

        # ---- interrogation over several invocations, then registration (copy, resumed)
        with Timer("interrogation"):
            success = events.wait_for("FileInterrogationSuccess", file_id, timeout=1800)
        assert success.payload["decrypted_sha256"] == original_sha256
        assert not events.events("FileInterrogationFailure", file_id)
        staged = success.payload["parts_manifest"]
        assert staged["parts"] == part_count(
            success.payload["encrypted_size"], success.payload["encrypted_part_size"]
        )
        handed_on = log_lines(scale_stack, "handed on to a next invocation", file_id)
        invocations = -(-staged["parts"] // SCALE_IRS_PARTS_PER_INVOCATION)
        assert invocations >= 3 and len(handed_on) >= invocations - 1, (staged, handed_on)
        with Timer("registration"):
            registered = events.wait_for("FileInternallyRegistered", file_id, timeout=1800)
        permanent = registered.payload
        assert permanent["parts_manifest"]["sha256"] == staged["sha256"]
        kept = read_manifest_object(endpoints, permanent["bucket"], permanent["object_id"])
        assert kept.parts == staged["parts"] == part_count(kept.size, kept.part_size)
        copy_parts = s3_object_parts(endpoints, permanent["bucket"], permanent["object_id"])
        copy_turns = -(-copy_parts // SCALE_IFRS_PARTS_PER_INVOCATION)
        assert copy_turns >= 3 or PARTS < MAX_PARTS, copy_parts
        handed_on = log_lines(scale_stack, "copy handed on to a next invocation", file_id)
        assert len(handed_on) >= copy_turns - 1, (copy_parts, handed_on)

        # ---- staging to the outbox and a ranged, parallel download
        package_id, token = operator.download_package(keys.user, [file_id])
        download_env = dict(
            env,
            FS_CONNECTOR_WPAT=f"{package_id}:{seal(token, keys.user.public_key)}",
            FS_CONNECTOR_RANGE_SIZE="8MiB",  # about 80 ranges, four at once
            FS_CONNECTOR_CONCURRENCY="4",
            FS_CONNECTOR_MAX_WAIT="1800",
        )
        out = tmp_path / "downloads"
        out.mkdir()
        with Timer("staging and download"):
            result = run_cli(
                ["download", "--output-dir", str(out), "--decrypt", "--quiet"],
                download_env,
                timeout=3000,
            )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        events.settle()
        assert len(events.events("NonStagedFileRequested", file_id)) == 1
        (outbox,) = events.events("FileStagedForDownload", file_id)
        outbox_parts = s3_object_parts(
            endpoints, outbox.payload["target_bucket"], outbox.payload["target_object_id"]
        )
        assert outbox_parts == copy_parts
        handed_on = log_lines(scale_stack, "outbox copy handed on to a next invocation", file_id)
        assert len(handed_on) >= copy_turns - 1, (outbox_parts, handed_on)

        with Timer("compare"):
            assert sha256_of(out / file_id) == original_sha256

        # ---- nothing grew with the part count
        for event in events.events():
            assert len(event.model_dump_json().encode()) < SNS_MAX_MESSAGE_BYTES // 8, event.type
        s3 = aws(endpoints, "s3")
        for bucket in DECLARATION.buckets:
            name = bucket_name(bucket.key, endpoints["resource_prefix"])
            assert not s3.list_multipart_uploads(Bucket=name).get("Uploads"), name
        largest = largest_items(endpoints)
        print(f"  scale journey: largest items (bytes): {largest}", flush=True)
        assert max(largest.values()) < DYNAMODB_MAX_ITEM_BYTES // 4, largest
    finally:
        events.close()
        for path in tmp_path.rglob("*"):  # about 2 GB of file, download and plaintext
            if path.is_file() and path.stat().st_size > 1024**2:
                path.unlink()
        print(f"  scale journey ({PARTS} parts): {json.dumps(TIMINGS)}", flush=True)
