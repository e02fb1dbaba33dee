"""Every upload route checks its work order token: signature, expiry, audience, claims."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from functions.ucs.auth import Authorizer
from shared.errors import Forbidden, Unauthorized
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
    hash_secret,
)
from tests.support import assert_error, download_wot
from tests.ucs.helpers import Payload, Submitter

# ------------------------------------------------------------------ the check itself (unit)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_signing_key()


def claims(**extra: Any) -> dict[str, Any]:
    return {"work_type": "upload", "box_id": "B", "file_id": "F", **extra}


def authorizer(public_pem: str) -> Authorizer:
    return Authorizer(TokenVerifier(public_pem, leeway_seconds=5), hash_secret("operator"))


def test_expired_token_is_401(keys: tuple[str, str]) -> None:
    private, public = keys
    token = TokenSigner(private, lifetime_seconds=30).sign(
        claims(), AUDIENCE_UPLOAD, now=time.time() - 120
    )
    with pytest.raises(Unauthorized) as caught:
        authorizer(public).work_order(token, "upload", "B", file_id="F")
    assert caught.value.status == 401
    assert caught.value.exception_id == "expiredToken"
    assert token not in caught.value.description


def test_fresh_token_with_matching_claims_passes(keys: tuple[str, str]) -> None:
    private, public = keys
    token = TokenSigner(private).sign(claims(user_id="u"), AUDIENCE_UPLOAD)
    got = authorizer(public).work_order(token, "upload", "B", file_id="F")
    assert got["user_id"] == "u"


@pytest.mark.parametrize(
    ("expected", "claim"),
    [
        ({"work_type": "close", "box_id": "B", "file_id": "F"}, "work_type"),
        ({"work_type": "upload", "box_id": "C", "file_id": "F"}, "box_id"),
        ({"work_type": "upload", "box_id": "B", "file_id": "G"}, "file_id"),
    ],
)
def test_claims_must_match_the_route(
    keys: tuple[str, str], expected: dict[str, str], claim: str
) -> None:
    private, public = keys
    token = TokenSigner(private).sign(claims(), AUDIENCE_UPLOAD)
    work_type, box_id = expected.pop("work_type"), expected.pop("box_id")
    with pytest.raises(Forbidden) as caught:
        authorizer(public).work_order(token, work_type, box_id, **expected)
    assert caught.value.exception_id == "wrongToken"
    assert caught.value.data == {"claim": claim}


def test_operator_token_is_recognised_by_hash(keys: tuple[str, str]) -> None:
    check = authorizer(keys[1])
    assert check.is_operator("operator")
    assert not check.is_operator("operatorX")
    assert not check.is_operator(None)


# ------------------------------------------------------------------ over HTTP


def test_missing_token_is_401_on_every_upload_route(submitter: Submitter) -> None:
    file_id = submitter.created("a.txt", Payload.random(1))
    http, base = submitter.http, submitter.base
    no_auth = {"Content-Type": "application/json"}
    responses = [
        http.get(base, headers=no_auth),
        http.post(base, json=Payload.random(1).create_body("b.txt"), headers=no_auth),
        http.get(f"{base}/{file_id}/parts/1", headers=no_auth),
        http.get(f"{base}/{file_id}/parts", headers=no_auth),
        http.patch(f"{base}/{file_id}", json=Payload.random(1).close_body(), headers=no_auth),
        http.delete(f"{base}/{file_id}", headers=no_auth),
    ]
    for response in responses:
        assert_error(response, 401, "noToken")
    assert submitter.status(file_id)["state"] == "init"


def test_forged_token_is_401(submitter: Submitter) -> None:
    file_id = submitter.created("a.txt", Payload.random(1))
    private, _ = generate_signing_key()  # not WPS's key
    forged = TokenSigner(private).sign(
        {"work_type": "delete", "box_id": submitter.box_id, "file_id": file_id}, AUDIENCE_UPLOAD
    )
    assert_error(submitter.delete(file_id, token=forged), 401, "invalidToken")
    assert_error(submitter.list(token="not-a-jwt"), 401, "invalidToken")
    assert submitter.status(file_id)["state"] == "init"


def test_operator_token_is_no_work_order_token(submitter: Submitter) -> None:
    operator_token = submitter.endpoints["operator_token"]
    assert_error(
        submitter.create("a.txt", Payload.random(1), token=operator_token), 401, "invalidToken"
    )


def test_download_token_is_403_for_uploads(submitter: Submitter) -> None:
    file_id = submitter.created("a.txt", Payload.random(1))
    package_id, wpat = submitter.operator.download_package(submitter.user, [file_id])
    token = download_wot(submitter.endpoints, submitter.user, package_id, wpat, file_id)
    assert AUDIENCE_DOWNLOAD == "dcs"
    assert_error(submitter.part_url(file_id, 1, token=token), 403, "wrongTokenAudience")
    assert_error(submitter.delete(file_id, token=token), 403, "wrongTokenAudience")


def test_token_for_another_operation_is_403(submitter: Submitter) -> None:
    payload = Payload.random(1)
    file_id = submitter.created("a.txt", payload)
    upload_token = submitter.wot("upload", file_id=file_id)
    error = assert_error(submitter.delete(file_id, token=upload_token), 403, "wrongToken")
    assert error["data"] == {"claim": "work_type"}
    assert_error(
        submitter.close(file_id, payload.close_body(), token=upload_token), 403, "wrongToken"
    )
    assert_error(submitter.list(token=upload_token), 403, "wrongToken")
    view = submitter.wot("view")
    assert_error(submitter.create("b.txt", payload, token=view), 403, "wrongToken")
    assert submitter.status(file_id)["state"] == "init"


def test_token_for_another_box_is_403(submitter: Submitter) -> None:
    payload = Payload.random(1)
    other = Submitter(submitter.endpoints, submitter.operator, submitter.operator.create_box())
    theirs = other.created("theirs.txt", payload)
    # my token (for my box) on their box's URL
    token = submitter.wot("upload", file_id=theirs)
    response = other.part_url(theirs, 1, token=token)
    assert assert_error(response, 403, "wrongToken")["data"] == {"claim": "box_id"}
    assert_error(other.list(token=submitter.wot("view")), 403, "wrongToken")
    create = submitter.wot("create", alias="x.txt")
    assert_error(other.create("x.txt", payload, token=create), 403, "wrongToken")


def test_token_for_another_alias_is_403(submitter: Submitter) -> None:
    token = submitter.wot("create", alias="granted.txt")
    response = submitter.create("other.txt", Payload.random(1), token=token)
    assert assert_error(response, 403, "wrongToken")["data"] == {"claim": "alias"}
    assert submitter.list().json()["total_count"] == 0


def test_token_for_another_file_is_403(submitter: Submitter) -> None:
    payload = Payload.random(1)
    mine = submitter.created("mine.txt", payload)
    other = submitter.created("other.txt", payload)
    for work_type, call in (
        ("upload", lambda t: submitter.part_url(other, 1, token=t)),
        ("upload", lambda t: submitter.stored_parts(other, token=t)),
        ("close", lambda t: submitter.close(other, payload.close_body(), token=t)),
        ("delete", lambda t: submitter.delete(other, token=t)),
    ):
        token = submitter.wot(work_type, file_id=mine)
        assert assert_error(call(token), 403, "wrongToken")["data"] == {"claim": "file_id"}
    assert submitter.status(other)["state"] == "init"


def test_operator_routes_need_the_operator_token(
    submitter: Submitter, endpoints: dict[str, Any]
) -> None:
    ucs = endpoints["ucs_url"]
    view = submitter.wot("view")
    for method, url in (
        ("POST", f"{ucs}/boxes"),
        ("GET", f"{ucs}/boxes/{submitter.box_id}"),
        ("PATCH", f"{ucs}/boxes/{submitter.box_id}"),
        ("DELETE", f"{ucs}/boxes/{submitter.box_id}"),
        ("GET", f"{ucs}/uploads/{uuid.uuid4()}"),
    ):
        for headers in ({}, {"Authorization": f"Bearer {view}"}, {"Authorization": "Bearer x"}):
            response = submitter.http.request(method, url, headers=headers, json={"locked": True})
            assert_error(response, 401, "notAuthorized")
    assert submitter.box()["locked"] is False
