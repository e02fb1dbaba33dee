"""GET /objects/{id}/assembled: envelope + content as one .c4gh file, by byte range."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.dcs.helpers import (
    ArchivedFile,
    Requester,
    decrypt_c4gh,
    fake_file,
    register,
)
from tests.support import Operator, assert_error

ENVELOPE = 124
MAX_RANGE = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def whole(small: tuple[ArchivedFile, Requester]) -> bytes:
    """The assembled file as GHGA's client writes it: envelope, then the content."""
    f, requester = small
    envelope = base64.b64decode(requester.envelope(f.file_id).content)
    assert len(envelope) == ENVELOPE
    return envelope + f.content


def _ranges(total: int) -> list[tuple[str, int, int]]:
    last = total - 1
    return [
        ("bytes=0-0", 0, 0),  # first byte
        ("bytes=0-9", 0, 9),  # inside the envelope
        ("bytes=100-123", 100, 123),  # the envelope's end
        ("bytes=0-123", 0, 123),  # exactly the envelope
        ("bytes=124-124", 124, 124),  # the content's first byte
        ("bytes=120-130", 120, 130),  # across the boundary
        ("bytes=123-124", 123, 124),  # the two bytes at the boundary
        ("bytes=124-70000", 124, 70000),  # content across a segment boundary
        (f"bytes={last}-{last}", last, last),  # last byte
        (f"bytes={total - 10}-", total - 10, last),  # open end
        ("bytes=-10", total - 10, last),  # suffix
        (f"bytes=-{total + 50}", 0, last),  # suffix longer than the file
        (f"bytes=5-{total + 1000}", 5, last),  # end clipped
        (f"bytes=0-{last}", 0, last),  # everything
    ]


def test_ranges_map_onto_envelope_and_content(
    small: tuple[ArchivedFile, Requester], whole: bytes
) -> None:
    f, requester = small
    total = len(whole)
    for header, start, end in _ranges(total):
        response = requester.assembled(f.file_id, header)
        assert response.status_code == 206, (header, response.text)
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{total}", header
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert int(response.headers["Content-Length"]) == end - start + 1
        assert response.content == whole[start : end + 1], header


def test_a_range_reader_gets_a_file_that_decrypts(
    small: tuple[ArchivedFile, Requester], whole: bytes
) -> None:
    f, requester = small
    total = len(whole)
    step = 60_001  # no alignment to envelope, segments or parts
    pieces = [
        requester.assembled(f.file_id, f"bytes={a}-{min(a + step, total) - 1}").content
        for a in range(0, total, step)
    ]
    assert decrypt_c4gh(b"".join(pieces), requester.user.private_key) == f.plain


def test_without_range_a_small_file_comes_whole(
    small: tuple[ArchivedFile, Requester], whole: bytes
) -> None:
    f, requester = small
    response = requester.assembled(f.file_id)
    assert response.status_code == 200
    assert response.content == whole
    assert response.headers["Accept-Ranges"] == "bytes"


def test_head_tells_the_size(small: tuple[ArchivedFile, Requester], whole: bytes) -> None:
    f, requester = small
    response = requester.assembled(f.file_id, method="HEAD")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(whole)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.content == b""


def test_ranges_past_the_end_are_416(small: tuple[ArchivedFile, Requester], whole: bytes) -> None:
    f, requester = small
    total = len(whole)
    for header in (f"bytes={total}-", f"bytes={total + 5}-{total + 9}", "bytes=-0"):
        response = requester.assembled(f.file_id, header)
        assert_error(response, 416, "rangeNotSatisfiable")
        assert response.headers["Content-Range"] == f"bytes */{total}"


@pytest.mark.parametrize(
    "header", ["bytes=9-5", "items=0-9", "bytes=0-9,20-29", "bytes=a-b", "bytes=-", "0-9"]
)
def test_malformed_ranges_are_400(small: tuple[ArchivedFile, Requester], header: str) -> None:
    f, requester = small
    assert_error(requester.assembled(f.file_id, header), 400, "invalidRange")


def test_a_binary_accept_header_is_required(small: tuple[ArchivedFile, Requester]) -> None:
    f, requester = small
    for accept in (None, "application/json"):
        response = requester.assembled(f.file_id, "bytes=0-9", accept=accept)
        body = assert_error(response, 406, "notAcceptable")
        assert "application/octet-stream" in body["description"]
    assert requester.assembled(f.file_id, "bytes=0-9", accept="application/octet-stream").content


def test_long_ranges_are_413_with_how_to_ask(big: tuple[ArchivedFile, Requester]) -> None:
    f, requester = big
    envelope = base64.b64decode(requester.envelope(f.file_id).content)
    whole_size = len(envelope) + len(f.content)
    exact = requester.assembled(f.file_id, f"bytes=100-{100 + MAX_RANGE - 1}")
    assert exact.status_code == 206
    assert exact.content == (envelope + f.content)[100 : 100 + MAX_RANGE]

    for header in (f"bytes=100-{100 + MAX_RANGE}", "bytes=0-", None):
        body = assert_error(requester.assembled(f.file_id, header), 413, "rangeTooLarge")
        assert str(MAX_RANGE) in body["description"]
        assert "access_url" in body["description"]
        assert body["data"]["max_range_bytes"] == MAX_RANGE
        assert body["data"]["size"] == whole_size


def test_a_file_not_in_the_outbox_is_202(endpoints: dict[str, Any], operator: Operator) -> None:
    f = fake_file()
    requester = Requester(endpoints, operator, [f.file_id])
    register(endpoints, f, size=5000)
    requester.wait_for(f.file_id, 202)
    response = requester.assembled(f.file_id, "bytes=0-9")
    assert response.status_code == 202
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_presigned_url_and_the_range_route_agree(
    small: tuple[ArchivedFile, Requester], whole: bytes
) -> None:
    f, requester = small
    url = requester.drs(f.file_id).json()["access_methods"][0]["access_url"]["url"]
    content = httpx.get(url, headers={"Range": "bytes=0-999"}).content
    assert requester.assembled(f.file_id, f"bytes={ENVELOPE}-{ENVELOPE + 999}").content == content
