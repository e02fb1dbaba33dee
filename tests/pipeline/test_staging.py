"""From a registered file to a download: DCS asks, IFRS stages, DCS serves (real services)."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from crypt4gh import lib as c4gh_lib

from shared.resources import bucket_name
from tests.irs.helpers import Submission, random_bytes
from tests.support import EventStream, Operator, User, download_wot, publish_event

EVENTS = ("FileInternallyRegistered", "NonStagedFileRequested", "FileStagedForDownload")


@pytest.fixture
def stream(endpoints: dict[str, Any]):
    events = EventStream(endpoints, EVENTS)
    try:
        yield events
    finally:
        events.close()


def _get_object(endpoints: dict, token: str, file_id: str) -> httpx.Response:
    return httpx.get(
        f"{endpoints['dcs_url']}/objects/{file_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_requested_file_is_staged_once_and_downloads_to_the_original(
    endpoints: dict,
    operator: Operator,
    submit: Callable[..., Submission],
    stream: EventStream,
    s3: Any,
) -> None:
    plain = random_bytes(3 * 65536 + 77, seed=7)
    submission = submit(plain)
    registered = stream.wait_for("FileInternallyRegistered", submission.file_id, timeout=120)
    user = User.new()
    package_id, wpat = operator.download_package(user, [submission.file_id])

    token = download_wot(endpoints, user, package_id, wpat, submission.file_id)
    first = _get_object(endpoints, token, submission.file_id)
    assert first.status_code == 202 and int(first.headers["Retry-After"]) >= 1
    staged = stream.wait_for("FileStagedForDownload", submission.file_id, timeout=60)
    outbox = bucket_name("outbox", endpoints["resource_prefix"])
    assert staged.payload["target_bucket"] == outbox
    assert staged.payload["decrypted_sha256"] == hashlib.sha256(plain).hexdigest()

    deadline = time.monotonic() + 30
    while (response := _get_object(endpoints, token, submission.file_id)).status_code == 202:
        assert time.monotonic() < deadline, "DCS never learned that the file was staged"
        time.sleep(0.3)
    assert response.status_code == 200, response.text
    drs = response.json()
    assert drs["size"] == registered.payload["encrypted_size"]
    assert drs["checksums"] == [{"type": "sha-256", "checksum": hashlib.sha256(plain).hexdigest()}]
    content = httpx.get(drs["access_methods"][0]["access_url"]["url"], timeout=30).content
    envelope = httpx.get(
        f"{endpoints['dcs_url']}/objects/{submission.file_id}/envelopes",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert envelope.status_code == 200
    out = io.BytesIO()
    c4gh_lib.decrypt(
        [(0, user.private_key, None)], io.BytesIO(base64.b64decode(envelope.content) + content), out
    )
    assert out.getvalue() == plain
    # polling did not ask for staging again
    stream.settle()
    assert len(stream.events("NonStagedFileRequested", submission.file_id)) == 1

    # a duplicate request is reported staged without a second copy
    before = s3.head_object(Bucket=outbox, Key=staged.payload["target_object_id"])
    publish_event(
        endpoints,
        "NonStagedFileRequested",
        {
            k: staged.payload[k]
            for k in ("file_id", "target_object_id", "target_bucket", "decrypted_sha256")
        },
        submission.file_id,
    )
    deadline = time.monotonic() + 30
    while len(stream.events("FileStagedForDownload", submission.file_id)) < 2:
        assert time.monotonic() < deadline
        stream.poll()
    after = s3.head_object(Bucket=outbox, Key=staged.payload["target_object_id"])
    assert after["LastModified"] == before["LastModified"]


def test_staging_requests_for_other_buckets_or_unknown_files_are_refused(
    endpoints: dict,
    submit: Callable[..., Submission],
    stream: EventStream,
    s3: Any,
) -> None:
    submission = submit(random_bytes(1000, seed=8))
    registered = stream.wait_for("FileInternallyRegistered", submission.file_id, timeout=120)
    permanent = registered.payload["bucket"]
    sha = registered.payload["decrypted_sha256"]
    # never write into permanent storage (or anywhere but the outbox), whatever the event says
    publish_event(
        endpoints,
        "NonStagedFileRequested",
        {
            "file_id": submission.file_id,
            "target_object_id": "evil",
            "target_bucket": permanent,
            "decrypted_sha256": sha,
        },
        submission.file_id,
    )
    publish_event(
        endpoints,
        "NonStagedFileRequested",
        {
            "file_id": "no-such-file",
            "target_object_id": "x",
            "target_bucket": bucket_name("outbox", endpoints["resource_prefix"]),
            "decrypted_sha256": sha,
        },
        "no-such-file",
    )
    stream.settle()
    assert stream.events("FileStagedForDownload", submission.file_id) == []
    assert stream.events("FileStagedForDownload", "no-such-file") == []
    assert "Contents" not in s3.list_objects_v2(Bucket=permanent, Prefix="evil")
