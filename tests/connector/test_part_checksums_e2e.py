"""Which checksum path fs-connector takes (docs/checksums.md): with our UCS, the wire
extension (each part's sha256 in its URL request and PUT, no md5s at close); with a UCS
that ignores ``part_checksum`` (GHGA's), GHGA's md5s, unchanged.

A recording proxy sits between the connector (a subprocess) and the stack; one variant
drops ``part_checksum`` from the create body on its way, as a UCS that does not know the
field would ignore it.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from http.server import BaseHTTPRequestHandler
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.s3 import S3Storage
from shared.events import ManifestRef
from shared.manifest import manifest_key, read_manifest
from tests.connector.helpers import (
    PART_SIZE,
    RecordingProxy,
    UploadBox,
    connector_env,
    inbox_bucket,
    run_cli,
    s3,
)
from tests.connector.test_upload_e2e import assert_inbox_decrypts

pytestmark = pytest.mark.usefixtures("interrogation_paused")


class ForgetfulUcsProxy(RecordingProxy):
    """Drops ``part_checksum`` from every create body: a UCS that never heard of it."""

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.command == "POST" and request.path.rstrip("/").endswith("/uploads"):
            length = int(request.headers.get("Content-Length") or 0)
            body = json.loads(request.rfile.read(length))
            body.pop("part_checksum", None)
            data = json.dumps(body).encode()
            request.rfile = BytesIO(data)
            del request.headers["Content-Length"]
            request.headers["Content-Length"] = str(len(data))
        super()._handle(request)


def _upload(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path, proxy: RecordingProxy
) -> tuple[Path, str]:
    original = tmp_path / "two-parts.bin"
    original.write_bytes(os.urandom(2 * PART_SIZE - 100_000))
    try:
        env = connector_env(endpoints, box, home, HTTP_PROXY=proxy.url, http_proxy=proxy.url)
        result = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    assert result.returncode == 0, result.stdout + result.stderr
    listing = run_cli(["ls", "--json"], connector_env(endpoints, box, home))
    (item,) = json.loads(listing.stdout)
    assert item["state"] == "inbox"
    return original, item["id"]


def _part_url_queries(proxy: RecordingProxy) -> list[dict[str, list[str]]]:
    return [
        urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        for method, url, _ in proxy.log
        if method == "GET" and "/parts/" in url
    ]


def _inbox_manifest(endpoints: dict[str, Any], file_id: str) -> Any:
    data = s3(endpoints).get_object(Bucket=inbox_bucket(endpoints), Key=manifest_key(file_id))
    raw = data["Body"].read()
    ref = ManifestRef(
        bucket=inbox_bucket(endpoints),
        key=manifest_key(file_id),
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        parts=2,
    )
    return read_manifest(S3Storage(s3(endpoints)), ref)


def test_with_our_ucs_parts_carry_their_sha256_and_no_md5_is_declared(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    proxy = RecordingProxy()
    original, file_id = _upload(endpoints, box, home, tmp_path, proxy)
    queries = _part_url_queries(proxy)
    assert len(queries) == 2 and all(len(q["sha256"][0]) == 64 for q in queries)
    manifest = _inbox_manifest(endpoints, file_id)
    assert manifest.md5 is None and len(manifest.sha256) == 2
    assert_inbox_decrypts(endpoints, file_id, original, tmp_path, 2)


def test_with_a_ucs_that_ignores_the_field_the_md5_path_is_taken(
    endpoints: dict[str, Any], box: UploadBox, home: Path, tmp_path: Path
) -> None:
    proxy = ForgetfulUcsProxy()
    original, file_id = _upload(endpoints, box, home, tmp_path, proxy)
    assert [q.get("sha256") for q in _part_url_queries(proxy)] == [None, None]
    manifest = _inbox_manifest(endpoints, file_id)
    assert manifest.md5 is not None and len(manifest.md5) == 2
    assert_inbox_decrypts(endpoints, file_id, original, tmp_path, 2)
