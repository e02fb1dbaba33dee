"""The upload path as GHGA's connector walks it: list, create, part URLs, PUT, close, list."""

from __future__ import annotations

import math
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support import assert_error
from tests.ucs.helpers import (
    PART_SIZE,
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    inbox_keys,
    manifest_of,
    object_etag,
    open_multipart_keys,
)

LISTING_FIELDS = {
    "id",
    "alias",
    "decrypted_size",
    "encrypted_size",
    "part_size",
    "part_count",
    "state",
    "state_reason",
    "created",
    "updated",
}


def test_two_part_upload_lands_in_the_inbox_and_is_announced(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap
) -> None:
    payload = Payload.random(TWO_PARTS)
    assert len(payload.parts) == 2
    response = submitter.create("reads/sample.bam", payload)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"file_id", "alias", "storage_alias"}
    assert body["alias"] == "reads/sample.bam"
    assert body["storage_alias"] == endpoints["storage_alias"]
    file_id = body["file_id"]
    assert uuid.UUID(file_id).version == 4
    assert file_id in open_multipart_keys(endpoints)  # the key is the id, not the alias

    submitter.put_parts(file_id, payload)
    close = payload.close_body()
    response = submitter.close(file_id, close)
    assert response.status_code == 204, response.text
    assert response.content == b""

    assert object_etag(endpoints, file_id) == close["encrypted_md5"]
    assert file_id not in open_multipart_keys(endpoints)
    status = submitter.status(file_id)
    assert status["state"] == "inbox"
    assert status["decrypted_sha256"] == close["decrypted_sha256"]
    assert status["encrypted_md5"] == close["encrypted_md5"]
    assert status["box_id"] == submitter.box_id

    [event] = tap.of("FileUploadReceived", file_id)
    payload_out = event["payload"]
    assert payload_out["box_id"] == submitter.box_id
    assert payload_out["alias"] == "reads/sample.bam"
    assert payload_out["object_id"] == file_id
    assert payload_out["bucket"].endswith("-inbox")
    assert payload_out["decrypted_size"] == TWO_PARTS
    assert payload_out["encrypted_size"] == payload.encrypted_size
    assert payload_out["part_size"] == PART_SIZE
    assert payload_out["submitter_public_key"] == submitter.user.public_b64
    # the part checksums lie beside the object, named by key and digest
    ref = payload_out["parts_manifest"]
    assert (ref["bucket"], ref["key"], ref["parts"]) == (
        payload_out["bucket"],
        f"manifests/{file_id}.json",
        2,
    )
    manifest = manifest_of(payload_out)
    assert manifest.md5 == close["encrypted_parts_md5"]
    assert manifest.sha256 == close["encrypted_parts_sha256"]
    assert (manifest.part_size, manifest.size) == (PART_SIZE, payload.encrypted_size)
    assert inbox_keys(endpoints, file_id) == [file_id, ref["key"]]
    assert payload_out["decrypted_sha256"] == close["decrypted_sha256"]
    assert event["key"] == file_id

    box = submitter.box()
    assert box["used_size"] == payload.encrypted_size
    assert box["upload_count"] == 1
    assert box["open_upload_count"] == 0
    assert box["state_counts"]["inbox"] == 1


def test_empty_file_is_one_header_part(submitter: Submitter, endpoints: dict[str, Any]) -> None:
    payload = Payload.random(0)
    assert payload.encrypted_size == 124
    file_id = submitter.uploaded("empty.txt", payload)
    assert submitter.status(file_id)["part_count"] == 1
    assert object_etag(endpoints, file_id) == payload.close_body()["encrypted_md5"]


def test_presigned_url_is_a_json_string_for_that_part(submitter: Submitter) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("a.txt", payload)
    for number, part in enumerate(payload.parts, start=1):
        response = submitter.part_url(file_id, number)
        assert response.status_code == 200
        url = response.json()
        assert isinstance(url, str)
        assert url.startswith("http")
        assert f"partNumber={number}" in url
        assert f"/{file_id}?" in url
        # the part's exact length is signed, and the URL lives the floor plus 1 s per MiB
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-SignedHeaders"] == ["content-length;host"]
        assert query["X-Amz-Expires"] == [str(300 + math.ceil(len(part) / 1024**2))]
        put = httpx.put(url, content=part)
        assert put.status_code == 200
    assert [len(p) for p in payload.parts] == [PART_SIZE, payload.encrypted_size - PART_SIZE]


def test_retried_close_with_the_same_checksums_is_accepted_once_announced(
    submitter: Submitter, tap: EventTap
) -> None:
    payload = Payload.random(1000)
    file_id = submitter.uploaded("retry.txt", payload)
    again = submitter.close(file_id, payload.close_body())
    assert again.status_code == 204, again.text
    assert len(tap.of("FileUploadReceived", file_id)) == 1  # published, so not again

    other = submitter.close(file_id, payload.close_body(decrypted_sha256="0" * 64))
    assert_error(other, 409, "fileUploadStateError")


def test_listing_is_paginated_in_creation_order(submitter: Submitter) -> None:
    payload = Payload.random(10)
    ids = [submitter.created(f"file-{n}.txt", payload) for n in range(3)]

    response = submitter.list(skip=0, limit=2)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "total_count"}
    assert page["total_count"] == 3
    assert [item["id"] for item in page["items"]] == ids[:2]
    assert all(set(item) == LISTING_FIELDS for item in page["items"])
    first = page["items"][0]
    assert first["alias"] == "file-0.txt"
    assert first["state"] == "init"
    assert first["decrypted_size"] == 10
    assert first["encrypted_size"] == 10 + 28 + 124
    assert first["part_count"] == 1

    rest = submitter.list(skip=2, limit=2).json()
    assert rest["total_count"] == 3
    assert [item["id"] for item in rest["items"]] == ids[2:]
    assert submitter.list(skip=3).json() == {"items": [], "total_count": 3}
    assert len(submitter.list().json()["items"]) == 3  # limit defaults to 100


def test_listing_refuses_bad_paging(submitter: Submitter) -> None:
    assert_error(submitter.list(limit=0), 422, "validationError")
    assert_error(submitter.list(limit=101), 422, "validationError")
    assert_error(submitter.list(skip=-1), 422, "validationError")
    assert_error(submitter.list(limit="many"), 422, "validationError")


def test_operator_may_list_any_box(submitter: Submitter) -> None:
    submitter.created("x.txt", Payload.random(1))
    response = submitter.operator.http.get(submitter.base)
    assert response.status_code == 200
    assert response.json()["total_count"] == 1


def test_resume_route_shows_the_parts_s3_has(submitter: Submitter) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created("resume.bin", payload)
    empty = submitter.stored_parts(file_id)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {
        "file_id": file_id,
        "part_size": PART_SIZE,
        "part_count": 2,
        "parts": [],
    }

    submitter.put_parts(file_id, payload, numbers=[2])
    close = payload.close_body()
    parts = submitter.stored_parts(file_id).json()["parts"]
    assert parts == [
        {"part_number": 2, "size": len(payload.parts[1]), "etag": close["encrypted_parts_md5"][1]}
    ]
    # an interrupted upload continues with what is missing, then closes
    missing = [n for n in (1, 2) if n not in {p["part_number"] for p in parts}]
    submitter.put_parts(file_id, payload, numbers=missing)
    assert [p["part_number"] for p in submitter.stored_parts(file_id).json()["parts"]] == [1, 2]
    assert submitter.close(file_id, close).status_code == 204
    assert_error(submitter.stored_parts(file_id), 409, "fileUploadStateError")


def test_unknown_upload_is_404(submitter: Submitter) -> None:
    unknown = str(uuid.uuid4())
    assert_error(submitter.part_url(unknown, 1), 404, "fileUploadNotFound")
    assert_error(submitter.stored_parts(unknown), 404, "fileUploadNotFound")
    assert_error(
        submitter.close(unknown, Payload.random(1).close_body()), 404, "fileUploadNotFound"
    )
    assert_error(submitter.delete(unknown), 404, "fileUploadNotFound")


def test_upload_of_another_box_is_not_found_here(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    other = Submitter(endpoints, submitter.operator, submitter.operator.create_box())
    file_id = other.created("theirs.txt", Payload.random(5))
    # a token for this box naming their file: valid claims, but the file is not in this box
    assert_error(submitter.part_url(file_id, 1), 404, "fileUploadNotFound")
    assert_error(submitter.delete(file_id), 404, "fileUploadNotFound")
    assert other.status(file_id)["state"] == "init"


def test_unknown_box_is_404(endpoints: dict[str, Any], operator: Any) -> None:
    missing = str(uuid.uuid4())
    response = operator.http.get(f"{endpoints['ucs_url']}/boxes/{missing}/uploads")
    assert_error(response, 404, "boxNotFound")
