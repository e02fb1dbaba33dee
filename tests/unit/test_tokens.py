"""Work order tokens: ES256 signing and every way verification must refuse."""

from __future__ import annotations

import base64
import json
import time

import pytest

from shared.errors import Forbidden, Unauthorized
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    bearer,
    generate_signing_key,
    hash_secret,
    matches_hash,
    random_token,
    require,
)

PRIVATE, PUBLIC = generate_signing_key()
OTHER_PRIVATE, _ = generate_signing_key()
CLAIMS = {"work_type": "upload", "box_id": "b1", "file_id": "f1"}


def test_round_trip_keeps_claims_and_sets_lifetime() -> None:
    token = TokenSigner(PRIVATE, lifetime_seconds=30).sign(CLAIMS, AUDIENCE_UPLOAD)
    claims = TokenVerifier(PUBLIC).verify(token, AUDIENCE_UPLOAD)
    assert {k: claims[k] for k in CLAIMS} == CLAIMS
    assert claims["exp"] - claims["iat"] == 30
    assert claims["aud"] == AUDIENCE_UPLOAD
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256"


def test_expired_token_is_refused() -> None:
    token = TokenSigner(PRIVATE, lifetime_seconds=30).sign(
        CLAIMS, AUDIENCE_UPLOAD, now=time.time() - 120
    )
    with pytest.raises(Unauthorized) as caught:
        TokenVerifier(PUBLIC, leeway_seconds=5).verify(token, AUDIENCE_UPLOAD)
    assert caught.value.exception_id == "expiredToken"


def test_token_within_leeway_is_accepted() -> None:
    token = TokenSigner(PRIVATE, lifetime_seconds=30).sign(
        CLAIMS, AUDIENCE_UPLOAD, now=time.time() - 32
    )
    assert TokenVerifier(PUBLIC, leeway_seconds=5).verify(token, AUDIENCE_UPLOAD)["box_id"] == "b1"


def test_wrong_signature_is_refused() -> None:
    token = TokenSigner(OTHER_PRIVATE).sign(CLAIMS, AUDIENCE_UPLOAD)
    with pytest.raises(Unauthorized) as caught:
        TokenVerifier(PUBLIC).verify(token, AUDIENCE_UPLOAD)
    assert caught.value.exception_id == "invalidToken"


def test_wrong_audience_is_refused() -> None:
    token = TokenSigner(PRIVATE).sign(CLAIMS, AUDIENCE_DOWNLOAD)
    with pytest.raises(Forbidden) as caught:
        TokenVerifier(PUBLIC).verify(token, AUDIENCE_UPLOAD)
    assert caught.value.exception_id == "wrongTokenAudience"


def test_tampered_claims_are_refused() -> None:
    token = TokenSigner(PRIVATE).sign(CLAIMS, AUDIENCE_UPLOAD)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["box_id"] = "another-box"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        TokenVerifier(PUBLIC).verify(f"{head}.{forged}.{signature}", AUDIENCE_UPLOAD)


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c"])
def test_missing_or_garbage_token_is_refused(token: str | None) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(PUBLIC).verify(token, AUDIENCE_UPLOAD)


def test_alg_none_is_refused() -> None:
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = (
        base64.urlsafe_b64encode(
            json.dumps(
                {**CLAIMS, "aud": "ucs", "iss": "fs-wps", "iat": 1, "exp": 9999999999}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(Unauthorized):
        TokenVerifier(PUBLIC).verify(f"{head}.{body}.", AUDIENCE_UPLOAD)


def test_require_refuses_other_operation() -> None:
    require(CLAIMS, work_type="upload", box_id="b1")
    with pytest.raises(Forbidden) as caught:
        require(CLAIMS, work_type="close")
    assert caught.value.exception_id == "wrongToken"
    assert "f1" not in caught.value.description


def test_error_descriptions_never_quote_the_token() -> None:
    token = TokenSigner(OTHER_PRIVATE).sign(CLAIMS, AUDIENCE_UPLOAD)
    with pytest.raises(Unauthorized) as caught:
        TokenVerifier(PUBLIC).verify(token, AUDIENCE_UPLOAD)
    assert token not in str(caught.value.body())


def test_bearer_header_parsing() -> None:
    assert bearer({"authorization": "Bearer abc"}) == "abc"
    assert bearer({"Authorization": "bearer  abc "}) == "abc"
    assert bearer({"authorization": "Basic abc"}) is None
    assert bearer({"authorization": "Bearer "}) is None
    assert bearer({}) is None


def test_access_tokens_are_random_and_stored_as_hash() -> None:
    tokens = {random_token(24) for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 24 and t.isalnum() for t in tokens)
    token = tokens.pop()
    stored = hash_secret(token)
    assert token not in stored and len(stored) == 64
    assert matches_hash(token, stored)
    assert not matches_hash(token + "x", stored)
    assert not matches_hash(None, stored)
