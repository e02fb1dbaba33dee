"""Closing checks with S3 what was really uploaded; deleting frees S3 and the alias."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from shared.resources import deletion_holders
from tests.support import assert_error
from tests.ucs.helpers import (
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    inbox_keys,
    open_multipart_keys,
)


def test_part_numbers_outside_the_upload_are_400(submitter: Submitter) -> None:
    file_id = submitter.created("two.bin", Payload.random(TWO_PARTS))
    for part_no in (0, 3, -1):
        error = assert_error(submitter.part_url(file_id, part_no), 400, "invalidPartNumber")
        assert error["data"] == {"part_no": part_no, "part_count": 2}
    assert submitter.part_url(file_id, 2).status_code == 200
    assert_error(submitter.part_url(file_id, "one"), 422, "validationError")
    assert_error(submitter.part_url(file_id, "1.0"), 422, "validationError")


def test_no_part_urls_once_closed(submitter: Submitter) -> None:
    file_id = submitter.uploaded("done.txt", Payload.random(10))
    assert_error(submitter.part_url(file_id, 1), 409, "fileUploadStateError")


def test_close_refuses_a_part_of_the_wrong_size(submitter: Submitter) -> None:
    payload = Payload.random(1000)
    file_id = submitter.created("short.txt", payload)
    short = Payload(payload.decrypted_size, payload.part_size, [payload.parts[0][:-1]])
    submitter.put_parts(file_id, short)
    error = assert_error(submitter.close(file_id, short.close_body()), 400, "uploadSizeMismatch")
    assert error["data"] == {"part_no": 1, "expected": 1152, "actual": 1151}
    assert submitter.status(file_id)["state"] == "init"
    # the right bytes for the part make the same upload closable
    submitter.put_parts(file_id, payload)
    assert submitter.close(file_id, payload.close_body()).status_code == 204


def test_close_refuses_a_missing_part(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("half.bin", payload)
    submitter.put_parts(file_id, payload, numbers=[1])
    error = assert_error(submitter.close(file_id, payload.close_body()), 400, "uploadSizeMismatch")
    assert error["data"] == {"part_no": 2}
    assert file_id in open_multipart_keys(endpoints)  # nothing was completed


def test_close_refuses_checksum_lists_of_the_wrong_length(submitter: Submitter) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("lists.bin", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()
    body["encrypted_parts_sha256"] = body["encrypted_parts_sha256"][:1]
    assert_error(submitter.close(file_id, body), 400, "uploadSizeMismatch")


def test_close_refuses_a_part_md5_that_s3_does_not_have(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("etag.bin", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()
    body["encrypted_parts_md5"][1] = hashlib.md5(b"other").hexdigest()  # noqa: S324
    error = assert_error(submitter.close(file_id, body), 400, "checksumMismatch")
    assert error["data"] == {"part_no": 2}
    assert file_id in open_multipart_keys(endpoints)
    assert submitter.status(file_id)["state"] == "init"


def test_close_refuses_a_wrong_multipart_etag(submitter: Submitter) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("whole.bin", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()
    whole = hashlib.md5(b"".join(payload.parts)).hexdigest()  # noqa: S324
    body["encrypted_md5"] = f"{whole}-2"  # md5 of the object is not S3's multipart ETag
    assert_error(submitter.close(file_id, body), 400, "checksumMismatch")
    body["encrypted_md5"] = payload.close_body()["encrypted_md5"][:-1] + "3"  # wrong -N
    assert_error(submitter.close(file_id, body), 400, "checksumMismatch")
    assert submitter.close(file_id, payload.close_body()).status_code == 204


def test_a_close_body_of_10000_parts_is_read_and_answered(submitter: Submitter) -> None:
    """GHGA's close body for the largest file (10,000 md5s and sha256s, about 1 MB) gets
    through the API and is judged: here against an upload of one part."""
    payload = Payload.random(10)
    file_id = submitter.created("one-part.txt", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()
    body["encrypted_parts_md5"] = [hashlib.md5(b"%d" % n).hexdigest() for n in range(10_000)]  # noqa: S324
    body["encrypted_parts_sha256"] = [hashlib.sha256(b"%d" % n).hexdigest() for n in range(10_000)]
    assert len(json.dumps(body)) > 1_000_000
    error = assert_error(submitter.close(file_id, body), 400, "uploadSizeMismatch")
    assert error["data"] == {"part_count": 1}
    assert submitter.status(file_id)["state"] == "init"
    assert submitter.close(file_id, payload.close_body()).status_code == 204


def test_close_refuses_malformed_checksums(submitter: Submitter) -> None:
    payload = Payload.random(10)
    file_id = submitter.created("bad.txt", payload)
    good = payload.close_body()
    for field, value in (
        ("decrypted_sha256", "abc"),
        ("decrypted_sha256", "g" * 64),
        ("encrypted_md5", good["encrypted_md5"].split("-")[0]),  # no -N
        ("encrypted_parts_md5", ["xyz"]),
        ("encrypted_parts_sha256", "not a list"),
    ):
        assert_error(submitter.close(file_id, {**good, field: value}), 422, "validationError")
    missing = dict(good)
    del missing["encrypted_md5"]
    assert_error(submitter.close(file_id, missing), 422, "validationError")


def test_close_tolerates_uppercase_hex(submitter: Submitter) -> None:
    payload = Payload.random(10)
    file_id = submitter.created("upper.txt", payload)
    submitter.put_parts(file_id, payload)
    body = payload.close_body()
    shouting = {
        key: [v.upper() for v in value] if isinstance(value, list) else value.upper()
        for key, value in body.items()
    }
    assert submitter.close(file_id, shouting).status_code == 204
    assert submitter.status(file_id)["encrypted_md5"] == body["encrypted_md5"]


def test_deleting_an_open_upload_aborts_it(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("gone.bin", payload)
    submitter.put_parts(file_id, payload, numbers=[1])
    upload_url = submitter.part_url(file_id, 2).json()
    response = submitter.delete(file_id)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert file_id not in open_multipart_keys(endpoints)
    status = submitter.status(file_id)
    assert status["state"] == "cancelled"
    assert status["state_reason"] == "deleted by the submitter"
    # a URL handed out earlier is now useless (S3 says 404 NoSuchUpload; moto says 500)
    assert httpx.put(upload_url, content=payload.parts[1]).status_code >= 400
    assert file_id not in open_multipart_keys(endpoints)
    assert_error(submitter.part_url(file_id, 1), 409, "fileUploadStateError")
    assert_error(submitter.close(file_id, payload.close_body()), 409, "fileUploadStateError")
    box = submitter.box()
    assert box["used_size"] == 0
    assert box["open_upload_count"] == 0


def test_deleting_a_file_in_the_inbox_removes_it_and_says_so(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap
) -> None:
    file_id = submitter.uploaded("inbox.txt", Payload.random(1000))
    assert inbox_keys(endpoints, file_id) == [file_id, f"manifests/{file_id}.json"]
    assert submitter.delete(file_id).status_code == 204
    assert inbox_keys(endpoints, file_id) == []  # the object and its manifest
    status = submitter.status(file_id)
    assert status["state"] == "cancelled"
    # interrogation may be under way: the file is purged everywhere, in the submitter's name
    [event] = tap.of("FileDeletionRequested", file_id)
    user_id = submitter.user_id()
    assert event["payload"] == {
        "file_id": file_id,
        "requested_by": user_id,
        "reason": "deleted by the submitter",
    }
    deletion = status["deletion"]
    assert deletion["requested_by"] == user_id
    # the holders confirm as they get to it (EKSS's is quick; here IRS does not consume):
    # those not heard from yet are awaited
    assert deletion["status"] == "deleting" and deletion["awaited"]
    assert set(deletion["awaited"]) <= set(deletion_holders()) == {"dcs", "ekss", "ifrs", "irs"}


def test_deleting_twice_is_fine(submitter: Submitter, tap: EventTap) -> None:
    file_id = submitter.created("twice.txt", Payload.random(1))
    assert submitter.delete(file_id).status_code == 204
    assert submitter.delete(file_id).status_code == 204
    status = submitter.status(file_id)
    assert status["state"] == "cancelled"
    assert status["deletion"] is None  # nothing downstream ever heard of an open upload
    assert tap.of("FileDeletionRequested", file_id) == []
    assert submitter.box()["state_counts"]["cancelled"] == 1


def test_deleting_a_closed_upload_twice_asks_for_the_purge_again(
    submitter: Submitter, tap: EventTap
) -> None:
    file_id = submitter.uploaded("closed-twice.txt", Payload.random(10))
    assert submitter.delete(file_id).status_code == 204
    assert submitter.delete(file_id).status_code == 204  # a lost request is recovered
    events = tap.of("FileDeletionRequested", file_id)
    assert len(events) == 2
    assert events[0]["payload"] == events[1]["payload"]
    assert submitter.box()["state_counts"]["cancelled"] == 1


def test_listing_shows_cancelled_uploads_too(submitter: Submitter) -> None:
    file_id = submitter.created("shown.txt", Payload.random(1))
    submitter.delete(file_id)
    [item] = submitter.list().json()["items"]
    assert item["id"] == file_id
    assert item["state"] == "cancelled"
    assert item["state_reason"] == "deleted by the submitter"
