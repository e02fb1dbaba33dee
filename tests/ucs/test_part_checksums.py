"""The wire extension over the stack's HTTP and S3: an upload created with
``part_checksum: "sha256"`` gets part URLs that sign each part's SHA-256, closes without
md5s, and is announced with S3's ETag and an md5-less manifest (docs/checksums.md).

The suite's S3 (moto) verifies no checksum; that S3 refuses a body that does not match the
signed digest is proven on SeaweedFS (tests/seaweedfs/test_part_checksums.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from shared.crypt.checksums import multipart_etag, sha256_header
from tests.support import assert_error
from tests.ucs.helpers import (
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    manifest_of,
    object_etag,
)


class ExtensionClient:
    """fs-connector's calls of the wire extension, made by hand."""

    def __init__(self, submitter: Submitter) -> None:
        self.submitter = submitter

    def create(self, alias: str, payload: Payload, part_checksum: Any = "sha256") -> httpx.Response:
        s = self.submitter
        body = {**payload.create_body(alias), "part_checksum": part_checksum}
        return s.http.post(
            s.base, content=json.dumps(body), headers=s.auth(s.wot("create", alias=alias))
        )

    def created(self, alias: str, payload: Payload) -> str:
        response = self.create(alias, payload)
        assert response.status_code == 201, response.text
        assert response.json()["part_checksum"] == "sha256"
        return response.json()["file_id"]

    def part_url(self, file_id: str, number: int, sha256: str | None) -> httpx.Response:
        s = self.submitter
        params = {"sha256": sha256} if sha256 is not None else {}
        return s.http.get(
            f"{s.base}/{file_id}/parts/{number}",
            params=params,
            headers=s.auth(s.wot("upload", file_id=file_id)),
        )

    def put_parts(self, file_id: str, payload: Payload) -> list[str]:
        sha256s = []
        for number, body in enumerate(payload.parts, start=1):
            sha256 = hashlib.sha256(body).hexdigest()
            url = self.part_url(file_id, number, sha256)
            assert url.status_code == 200, url.text
            put = put_part(url.json(), body, sha256)
            assert put.status_code == 200, put.text
            sha256s.append(sha256)
        return sha256s

    @staticmethod
    def close_body(sha256s: list[str]) -> dict[str, Any]:
        return {
            "decrypted_sha256": hashlib.sha256(b"plain").hexdigest(),
            "encrypted_parts_sha256": sha256s,
        }


def put_part(url: str, body: bytes, sha256: str | None) -> httpx.Response:
    headers = {"x-amz-checksum-sha256": sha256_header(sha256)} if sha256 else {}
    return httpx.put(url, content=body, headers=headers, timeout=60)


def signed_headers(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")


def test_an_extension_upload_closes_without_md5s_and_is_announced_with_s3s_etag(
    submitter: Submitter, endpoints: dict[str, Any], tap: EventTap
) -> None:
    client = ExtensionClient(submitter)
    payload = Payload.random(TWO_PARTS)
    file_id = client.created("ext.bin", payload)
    url = client.part_url(file_id, 1, hashlib.sha256(payload.parts[0]).hexdigest()).json()
    assert "x-amz-checksum-sha256" in signed_headers(url)
    assert "content-length" in signed_headers(url)
    sha256s = client.put_parts(file_id, payload)
    listing = submitter.stored_parts(file_id)
    assert listing.status_code == 200, listing.text
    assert listing.json()["part_checksum"] == "sha256"
    assert [p["size"] for p in listing.json()["parts"]] == [len(p) for p in payload.parts]

    response = submitter.close(file_id, client.close_body(sha256s))
    assert response.status_code == 204, response.text
    etag = multipart_etag([hashlib.md5(p).hexdigest() for p in payload.parts])  # noqa: S324
    assert object_etag(endpoints, file_id) == etag
    (event,) = [e["payload"] for e in tap.of("FileUploadReceived", file_id)]
    assert event["encrypted_md5"] == etag  # S3's own, from the completion
    manifest = manifest_of(event)
    assert manifest.md5 is None and manifest.sha256 == sha256s
    # a repeated close (the answer lost) converges without a second event
    again = submitter.close(file_id, client.close_body(sha256s))
    assert again.status_code == 204, again.text
    assert len(tap.of("FileUploadReceived", file_id)) == 1


def test_the_extension_is_refused_where_it_does_not_fit(submitter: Submitter) -> None:
    client = ExtensionClient(submitter)
    payload = Payload.random(TWO_PARTS)
    assert_error(client.create("bad.bin", payload, part_checksum="crc32"), 422, "validationError")
    extension = client.created("ext.bin", payload)
    ghga = submitter.created("ghga.bin", payload)  # GHGA's create: no part_checksum
    assert_error(client.part_url(extension, 1, None), 400, "partChecksumRequired")
    assert_error(client.part_url(ghga, 1, "ab" * 32), 400, "partChecksumNotExpected")
    assert_error(client.part_url(extension, 1, "not-hex"), 422, "validationError")
    # GHGA's answers stay as they were: no extension field
    assert "part_checksum" not in submitter.stored_parts(ghga).json()
    assert "sha256" not in submitter.part_url(ghga, 1).json().lower().split("?")[0]
    assert "x-amz-checksum-sha256" not in signed_headers(submitter.part_url(ghga, 1).json())

    sha256s = client.put_parts(extension, payload)
    md5s = payload.close_body()
    with_md5 = {**client.close_body(sha256s), **md5s}
    assert_error(submitter.close(extension, with_md5), 422, "validationError")
    assert_error(submitter.close(ghga, client.close_body(sha256s)), 422, "validationError")
    short = client.close_body(sha256s[:1])
    assert_error(submitter.close(extension, short), 400, "uploadSizeMismatch")
    # nothing was closed by the refusals
    states = {u["id"]: u["state"] for u in submitter.list().json()["items"]}
    assert states[extension] == states[ghga] == "init"


def test_the_header_s3_gets_is_the_base64_digest() -> None:
    digest = hashlib.sha256(b"part").digest()
    assert sha256_header(digest.hex()) == base64.b64encode(digest).decode()
