"""The pieces every service shares against hostile input: small-order public keys are no
keys, JSON bodies have a depth and a digit limit, and whatever Chalice answers by itself
leaves in the GHGA error body (tests/fuzz drives them through every route)."""

from __future__ import annotations

import base64
import json

import nacl.bindings
import pytest
from pydantic import BaseModel

from shared.crypt.keys import (
    KeyFormatError,
    WeakKeyError,
    check_public_key,
    decode_public_key,
    encode_key,
    generate_keypair,
)
from shared.errors import BadRequest
from shared.http import MAX_JSON_DEPTH, ghga_shaped, json_depth_exceeds, parse_body
from tests.fuzz.strategies import LOW_ORDER_KEYS


@pytest.mark.parametrize("key", LOW_ORDER_KEYS)
def test_small_order_points_are_refused(key: str) -> None:
    raw = base64.b64decode(key)
    # what they are: every shared secret with them is all zero, libsodium gives up
    with pytest.raises(RuntimeError):
        nacl.bindings.crypto_scalarmult(generate_keypair()[0], raw)
    with pytest.raises(WeakKeyError):
        check_public_key(raw)
    with pytest.raises(KeyFormatError):  # the callers' one except clause catches it
        decode_public_key(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_real_public_keys_pass() -> None:
    for _ in range(50):
        _, public = generate_keypair()
        assert decode_public_key(encode_key(public)) == public


class _Body(BaseModel):
    a: object = None


def test_json_depth_is_bounded_and_measured_without_recursion() -> None:
    assert not json_depth_exceeds(json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH))
    assert json_depth_exceeds(json.loads("[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2)))
    deep: list = []
    for _ in range(100_000):  # deeper than any recursion limit
        deep = [deep]
    assert json_depth_exceeds(deep)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b'{"a": ' + b"9" * 5000 + b"}",
        b"\xff",
        b"{",
    ],
    ids=["recursion", "depth", "digits", "utf-8", "syntax"],
)
def test_hostile_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(raw, _Body)
    assert refused.value.exception_id == "badJson"


def _answer(status: int, body: object, base64_body: bool = False) -> dict:
    text = json.dumps(body) if not isinstance(body, str) else body
    if base64_body:
        text = base64.b64encode(text.encode()).decode()
    return {
        "statusCode": status,
        "headers": {"Content-Type": "text/plain", "Allow": "GET"},
        "multiValueHeaders": {},
        "body": text,
        "isBase64Encoded": base64_body,
    }


@pytest.mark.parametrize(
    ("answer", "status", "exception_id"),
    [
        (
            _answer(415, {"Code": "UnsupportedMediaType", "Message": "m"}),
            415,
            "unsupportedMediaType",
        ),
        (_answer(405, {"Code": "MethodNotAllowedError", "Message": "m"}), 405, "methodNotAllowed"),
        (_answer(400, {"Code": "BadRequest", "Message": "m"}, base64_body=True), 400, "badRequest"),
        (_answer(500, "Traceback (most recent call last): ..."), 500, "internalError"),
        (_answer(403, ""), 403, "badRequest"),
    ],
)
def test_chalice_answers_get_our_error_body(answer: dict, status: int, exception_id: str) -> None:
    shaped = ghga_shaped(answer)
    body = json.loads(shaped["body"])
    assert shaped["statusCode"] == status and not shaped["isBase64Encoded"]
    assert set(body) == {"exception_id", "description", "data"}
    assert body["exception_id"] == exception_id
    assert "Traceback" not in shaped["body"]
    assert shaped["headers"]["Content-Type"] == "application/json"
    assert shaped["headers"]["Allow"] == "GET"  # other headers stay


def test_our_own_answers_pass_unchanged() -> None:
    ours = _answer(404, {"exception_id": "notFound", "description": "d", "data": {}})
    assert ghga_shaped(ours) is ours
    success = _answer(200, {"Code": "looks like Chalice", "Message": "but is a success"})
    assert ghga_shaped(success) is success
