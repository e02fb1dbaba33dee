"""GET /objects/{id}: DRS objects, staging requests, and every status GHGA's client meets."""

from __future__ import annotations

import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from tests.dcs.helpers import (
    ArchivedFile,
    Requester,
    archived_file,
    decrypt_c4gh,
    fake_file,
    outbox,
    put_in_outbox,
    register,
    report_staged,
)
from tests.support import EventStream, Operator, assert_error, upload_wot


def _assert_wait(
    response: httpx.Response, retry_after: int | None = None, size: int | None = None
) -> None:
    assert response.status_code == 202, response.text
    assert response.content == b""
    assert response.headers["Cache-Control"] == "no-store"
    value = response.headers["Retry-After"]
    assert value.isdigit(), value  # GHGA's client: int(headers["retry-after"])
    if retry_after is not None:
        assert int(value) == retry_after
    if size is not None:  # the connector scales its wait with it
        assert response.headers["X-Content-Size"] == str(size)


def test_a_file_is_staged_once_then_served(endpoints: dict[str, Any], operator: Operator) -> None:
    f = archived_file(endpoints, os.urandom(150_000))
    requester = Requester(endpoints, operator, [f.file_id])
    stream = EventStream(endpoints, ["NonStagedFileRequested", "FileDownloadServed"])
    try:
        assert_error(requester.drs(f.file_id), 404, "noSuchObject")  # not registered yet
        register(endpoints, f)
        polls = [requester.wait_for(f.file_id, 202)] + [requester.drs(f.file_id) for _ in range(4)]
        for response in polls:
            _assert_wait(response, retry_after=1)  # small: the configured minimum

        stream.wait_for("NonStagedFileRequested", f.file_id)
        stream.settle()
        requests = stream.events("NonStagedFileRequested", f.file_id)
        assert len(requests) == 1, "one staging request per staging, not one per poll"
        assert requests[0].payload == {
            "file_id": f.file_id,
            "target_object_id": f.object_id,
            "target_bucket": outbox(endpoints),
            "decrypted_sha256": f.sha256,
        }

        put_in_outbox(endpoints, f)
        report_staged(endpoints, f)
        served = requester.wait_for(f.file_id, 200)
        body = served.json()
        assert served.headers["Cache-Control"] == "no-store"
        host = urlparse(endpoints["dcs_url"]).netloc
        assert body["id"] == f.file_id
        assert body["self_uri"] == f"drs://{host}/{f.file_id}"
        assert body["size"] == len(f.content)  # without the envelope
        assert body["checksums"] == [{"type": "sha-256", "checksum": f.sha256}]
        assert body["created_time"]
        [method] = body["access_methods"]
        assert method["type"] == "s3"
        url = method["access_url"]["url"]
        assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["3600"]

        assert httpx.get(url).content == f.content
        part = httpx.get(url, headers={"Range": "bytes=1000-70999", "Cache-Control": "no-store"})
        assert part.status_code == 206
        assert part.content == f.content[1000:71000]

        stream.wait_for("FileDownloadServed", f.file_id)
        stream.settle()
        [audit] = stream.events("FileDownloadServed", f.file_id)  # one 200, one audit event
        assert audit.payload["target_object_id"] == f.object_id
        assert requester.package_id in audit.payload["context"]
        assert len(stream.events("NonStagedFileRequested", f.file_id)) == 1

        envelope = requester.envelope(f.file_id)
        assert envelope.status_code == 200, envelope.text
        header = base64.b64decode(envelope.text, validate=True)
        assert decrypt_c4gh(header + httpx.get(url).content, requester.user.private_key) == f.plain
    finally:
        stream.close()


def test_concurrent_polls_request_staging_once(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f = fake_file()
    requester = Requester(endpoints, operator, [f.file_id])
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        register(endpoints, f, size=10_000)
        # registration arrives asynchronously; until then GET is 404, and nothing is asked
        deadline = time.monotonic() + 60
        while requester.drs(f.file_id).status_code == 404:
            assert time.monotonic() < deadline, "registration never arrived"
            time.sleep(0.2)
        tokens = [requester.wot(f.file_id) for _ in range(12)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda t: requester.drs(f.file_id, token=t), tokens))
        for answer in answers:
            _assert_wait(answer)
        stream.wait_for("NonStagedFileRequested", f.file_id)
        stream.settle()
        assert len(stream.events("NonStagedFileRequested", f.file_id)) == 1
    finally:
        stream.close()


def test_retry_after_scales_with_size_within_the_configured_range(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    # the stack: 100 MB/s, clamped to [1, 60] seconds
    expected = {100: 1, 1_000_000_000: 10, 1_000_000_001: 11, 50_000_000_000: 60}
    files = {size: fake_file() for size in expected}
    requester = Requester(endpoints, operator, [f.file_id for f in files.values()])
    for size, f in files.items():
        register(endpoints, f, size=size)
    for size, f in files.items():
        _assert_wait(requester.wait_for(f.file_id, 202), retry_after=expected[size], size=size)


def test_token_for_another_file_is_403(
    endpoints: dict[str, Any], operator: Operator, small: tuple[ArchivedFile, Requester]
) -> None:
    f, _ = small
    other = fake_file()
    requester = Requester(endpoints, operator, [f.file_id, other.file_id])
    token = requester.wot(other.file_id)
    for response in (
        requester.drs(f.file_id, token=token),
        requester.envelope(f.file_id, token=token),
        requester.assembled(f.file_id, "bytes=0-9", token=token),
    ):
        body = assert_error(response, 403, "wrongToken")
        assert "file_id" in body["description"]  # GHGA's client shows the description


def test_unknown_file_is_404(endpoints: dict[str, Any], operator: Operator) -> None:
    never_registered = "never-registered-file"
    requester = Requester(endpoints, operator, [never_registered])
    assert_error(requester.drs(never_registered), 404, "noSuchObject")
    assert_error(requester.envelope(never_registered), 404, "noSuchObject")
    assert_error(requester.assembled(never_registered, "bytes=0-9"), 404, "noSuchObject")


def test_missing_or_forged_token_is_401(small: tuple[ArchivedFile, Requester]) -> None:
    f, requester = small
    assert_error(requester.drs(f.file_id, token=None), 401, "noToken")
    assert_error(requester.drs(f.file_id, token="not.a.token"), 401, "invalidToken")
    genuine = requester.wot(f.file_id)
    head, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["file_id"] = "another-file"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged_token = f"{head}.{forged}.{signature}"
    assert_error(requester.drs(f.file_id, token=forged_token), 401, "invalidToken")


def test_upload_token_is_403(
    endpoints: dict[str, Any], operator: Operator, small: tuple[ArchivedFile, Requester]
) -> None:
    f, requester = small
    box_id = operator.create_box()
    user = requester.user
    package_id, wpat = operator.upload_package(user, box_id)
    token = upload_wot(endpoints, user, package_id, wpat, box_id, "view")
    assert_error(requester.drs(f.file_id, token=token), 403, "wrongTokenAudience")


def test_expired_token_is_401(small: tuple[ArchivedFile, Requester]) -> None:
    f, requester = small
    token = requester.wot(f.file_id)
    assert requester.drs(f.file_id, token=token).status_code == 200
    payload = token.split(".")[1]
    expires = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    time.sleep(max(0.0, expires + 5 + 1.5 - time.time()))  # past expiry and DCS's leeway
    body = assert_error(requester.drs(f.file_id, token=token), 401, "expiredToken")
    assert token not in json.dumps(body)
