"""The wire extension where S3 checks it (SeaweedFS; moto verifies nothing): a part URL that
signs the part's SHA-256 takes only a body with that digest (400 BadDigest otherwise) and
only that header value (403 otherwise), and fs-connector sends an altered part again or
fails clearly (docs/checksums.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from shared.adapters.s3 import S3Storage
from shared.crypt.checksums import multipart_etag
from shared.resources import bucket_name
from tests.connector.helpers import RecordingProxy, connector_env, make_keys, run_cli, upload_box
from tests.seaweedfs.conftest import sw_client
from tests.support import Operator
from tests.ucs.helpers import PART_SIZE, TWO_PARTS, Payload, Submitter
from tests.ucs.test_part_checksums import ExtensionClient, put_part


def flipped(body: bytes) -> bytes:
    """The same length, one bit different: only the digest can tell."""
    return bytes([body[0] ^ 1]) + body[1:]


def test_s3_refuses_a_body_or_header_that_is_not_the_signed_sha256(
    sw_endpoints: dict[str, Any],
) -> None:
    operator = Operator(sw_endpoints)
    submitter = Submitter(sw_endpoints, operator, operator.create_box())
    client = ExtensionClient(submitter)
    payload = Payload.random(TWO_PARTS)
    file_id = client.created("verified.bin", payload)
    body = payload.parts[0]
    sha256 = hashlib.sha256(body).hexdigest()
    url = client.part_url(file_id, 1, sha256).json()
    bad = put_part(url, flipped(body), sha256)
    assert bad.status_code == 400 and "BadDigest" in bad.text, bad.text
    other = hashlib.sha256(flipped(body)).hexdigest()
    assert put_part(url, flipped(body), other).status_code == 403  # not the signed value
    assert put_part(url, body, None).status_code == 403  # the signed header is missing
    assert submitter.stored_parts(file_id).json()["parts"] == []  # nothing got in

    sha256s = client.put_parts(file_id, payload)
    response = submitter.close(file_id, client.close_body(sha256s))
    assert response.status_code == 204, response.text
    etag = multipart_etag([hashlib.md5(p).hexdigest() for p in payload.parts])  # noqa: S324
    storage = S3Storage(sw_client(sw_endpoints, "s3"))
    inbox = bucket_name("inbox", sw_endpoints["resource_prefix"])
    info = storage.head(inbox, file_id)
    assert info is not None and info.etag == etag  # SeaweedFS's ETag stays md5-based
    assert storage.get(inbox, file_id) == b"".join(payload.parts)


class AlteringProxy(RecordingProxy):
    """Flips a bit of part 1's body on the way to S3: the first time only, or always."""

    def __init__(self, always: bool) -> None:
        super().__init__()
        self._altered = 0

        def alter(part: int, body: bytes) -> bytes:
            if part != 1 or (self._altered and not always):
                return body
            self._altered += 1
            return flipped(body)

        self.alter = alter


def _upload(sw_endpoints: dict[str, Any], tmp_path: Path, always: bool) -> tuple[Any, Any]:
    keys = make_keys(tmp_path / "keys")
    box = upload_box(Operator(sw_endpoints), keys)
    original = tmp_path / "altered.bin"
    original.write_bytes(os.urandom(PART_SIZE + 1000))  # two parts
    proxy = AlteringProxy(always)
    try:
        env = connector_env(
            sw_endpoints, box, tmp_path / "home", HTTP_PROXY=proxy.url, http_proxy=proxy.url
        )
        result = run_cli(["upload", str(original)], env)
    finally:
        proxy.close()
    return result, proxy


def test_the_connector_sends_a_part_altered_on_the_way_again(
    sw_endpoints: dict[str, Any], tmp_path: Path
) -> None:
    result, proxy = _upload(sw_endpoints, tmp_path, always=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.puts(400) == [1]  # BadDigest once, then the part again with a new URL
    assert sorted(proxy.puts(200)) == [1, 2]
    close = [url for method, url, code in proxy.log if method == "PATCH" and code == 204]
    assert len(close) == 1


def test_the_connector_fails_clearly_if_a_part_keeps_arriving_altered(
    sw_endpoints: dict[str, Any], tmp_path: Path
) -> None:
    result, proxy = _upload(sw_endpoints, tmp_path, always=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "part 1" in output and "altered" in output, output
    assert "Traceback" not in output and "X-Amz-Signature" not in output
    assert proxy.puts(400) == [1, 1]
