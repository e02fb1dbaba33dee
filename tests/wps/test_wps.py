"""WPS over real HTTP: work packages, access tokens and work order tokens."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.crypt.sealedbox import SealedBoxError, unseal
from shared.errors import Forbidden
from shared.tokens import AUDIENCE_DOWNLOAD, AUDIENCE_UPLOAD, TokenSigner, TokenVerifier
from tests.support import Operator, User, download_wot, upload_wot


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


@pytest.fixture
def box_id() -> str:
    return str(uuid.uuid4())


def test_operator_token_is_required(endpoints: dict, user: User) -> None:
    url = f"{endpoints['wps_url']}/work-packages"
    body = {"type": "download", "file_ids": ["f"], "user_public_crypt4gh_key": user.public_b64}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["exception_id"] == "notAuthorized"


def test_download_package_round_trip(endpoints: dict, operator: Operator, user: User) -> None:
    package_id, wpat = operator.download_package(user, ["file-a", "file-b"])
    assert len(wpat) == 24
    response = httpx.get(
        f"{endpoints['wps_url']}/work-packages/{package_id}",
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "download"
    assert body["files"] == {"file-a": "", "file-b": ""}
    assert datetime.fromisoformat(body["expires"]) > datetime.now(UTC) + timedelta(days=29)

    token = download_wot(endpoints, user, package_id, wpat, "file-b")
    claims = TokenVerifier(endpoints["wot_public_key"]).verify(token, AUDIENCE_DOWNLOAD)
    assert claims["type"] == "download"
    assert claims["file_id"] == "file-b"
    assert claims["user_public_crypt4gh_key"] == user.public_b64
    assert claims["exp"] - claims["iat"] == 30


def test_wot_is_sealed_to_the_users_key_only(
    endpoints: dict, operator: Operator, user: User
) -> None:
    package_id, wpat = operator.download_package(user, ["f1"])
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/files/f1/work-order-tokens",
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 201
    sealed = response.json()
    assert isinstance(sealed, str) and "." not in sealed  # base64, not a readable JWT
    with pytest.raises(SealedBoxError):
        unseal(sealed, User.new().private_key)


def test_upload_tokens_carry_the_right_claims(
    endpoints: dict, operator: Operator, user: User, box_id: str
) -> None:
    package_id, wpat = operator.upload_package(user, box_id)
    described = httpx.get(
        f"{endpoints['wps_url']}/work-packages/{package_id}",
        headers={"Authorization": f"Bearer {wpat}"},
    ).json()
    assert described["type"] == "upload" and described["files"] == {}
    assert described["file_upload_box_id"] == box_id
    rdub = described["research_data_upload_box_id"]
    verifier = TokenVerifier(endpoints["wot_public_key"])
    file_id = str(uuid.uuid4())

    create = verifier.verify(
        upload_wot(endpoints, user, package_id, wpat, rdub, "create", alias="a.txt"),
        AUDIENCE_UPLOAD,
    )
    assert (create["work_type"], create["box_id"], create["alias"]) == ("create", box_id, "a.txt")
    assert "file_id" not in create
    for work_type in ("upload", "close", "delete"):
        claims = verifier.verify(
            upload_wot(endpoints, user, package_id, wpat, rdub, work_type, file_id=file_id),
            AUDIENCE_UPLOAD,
        )
        assert (claims["work_type"], claims["file_id"], claims["box_id"]) == (
            work_type,
            file_id,
            box_id,
        )
        assert "alias" not in claims
    view = verifier.verify(
        upload_wot(endpoints, user, package_id, wpat, rdub, "view"), AUDIENCE_UPLOAD
    )
    assert view["work_type"] == "view" and view["box_id"] == box_id


@pytest.mark.parametrize(
    ("body", "status", "exception_id"),
    [
        ({"work_type": "create"}, 422, "validationError"),
        ({"work_type": "upload"}, 422, "validationError"),
        ({"work_type": "close", "file_id": "not-a-uuid"}, 422, "validationError"),
        ({"work_type": "fly"}, 422, "validationError"),
        ({}, 422, "validationError"),
    ],
)
def test_bad_upload_token_requests(
    endpoints: dict,
    operator: Operator,
    user: User,
    box_id: str,
    body: dict,
    status: int,
    exception_id: str,
) -> None:
    package_id, wpat = operator.upload_package(user, box_id)
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/boxes/{box_id}/work-order-tokens",
        json=body,
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == status
    assert response.json()["exception_id"] == exception_id


def test_invalid_json_body_is_400(
    endpoints: dict, operator: Operator, user: User, box_id: str
) -> None:
    package_id, wpat = operator.upload_package(user, box_id)
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/boxes/{box_id}/work-order-tokens",
        content=b"{not json",
        headers={"Authorization": f"Bearer {wpat}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["exception_id"] == "badJson"


def test_tokens_for_what_the_package_does_not_grant(
    endpoints: dict, operator: Operator, user: User, box_id: str
) -> None:
    wps = endpoints["wps_url"]
    down_id, down_wpat = operator.download_package(user, ["f1"])
    up_id, up_wpat = operator.upload_package(user, box_id)
    cases = [
        (
            f"{wps}/work-packages/{down_id}/files/other/work-order-tokens",
            down_wpat,
            None,
            "fileNotInPackage",
        ),
        (
            f"{wps}/work-packages/{up_id}/files/f1/work-order-tokens",
            up_wpat,
            None,
            "wrongWorkPackageType",
        ),
        (
            f"{wps}/work-packages/{down_id}/boxes/{box_id}/work-order-tokens",
            down_wpat,
            {"work_type": "view"},
            "wrongWorkPackageType",
        ),
        (
            f"{wps}/work-packages/{up_id}/boxes/{uuid.uuid4()}/work-order-tokens",
            up_wpat,
            {"work_type": "view"},
            "boxNotInPackage",
        ),
    ]
    for url, wpat, body, exception_id in cases:
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {wpat}"})
        assert response.status_code == 403, url
        assert response.json()["exception_id"] == exception_id


def test_access_token_checks(endpoints: dict, operator: Operator, user: User) -> None:
    wps = endpoints["wps_url"]
    package_id, wpat = operator.download_package(user, ["f1"])
    other_id, _ = operator.download_package(user, ["f1"])

    def get(pid: str, headers: dict) -> httpx.Response:
        return httpx.get(f"{wps}/work-packages/{pid}", headers=headers)

    missing = get(package_id, {})
    assert missing.status_code == 401 and missing.json()["exception_id"] == "notAuthorized"
    wrong = get(package_id, {"Authorization": "Bearer " + "x" * 24})
    assert wrong.status_code == 403 and wrong.json()["exception_id"] == "noWorkPackageAccess"
    crossed = get(other_id, {"Authorization": f"Bearer {wpat}"})
    assert crossed.status_code == 403
    unknown = get(str(uuid.uuid4()), {"Authorization": f"Bearer {wpat}"})
    assert unknown.status_code == 403 and unknown.json()["exception_id"] == "noWorkPackageAccess"
    malformed = get("not-a-uuid", {"Authorization": f"Bearer {wpat}"})
    assert (
        malformed.status_code == 404 and malformed.json()["exception_id"] == "workPackageNotFound"
    )
    for response in (missing, wrong, crossed, unknown, malformed):
        assert wpat not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"type": "download", "file_ids": ["f"], "user_public_crypt4gh_key": "A" * 44},
        {"type": "download", "file_ids": [], "user_public_crypt4gh_key": None},
        {"type": "upload", "user_public_crypt4gh_key": None},
        {
            "type": "upload",
            "file_upload_box_id": "b",
            "file_ids": ["f"],
            "user_public_crypt4gh_key": None,
        },
        {
            "type": "download",
            "file_ids": ["f"],
            "file_upload_box_id": "b",
            "user_public_crypt4gh_key": None,
        },
        {"type": "archive", "user_public_crypt4gh_key": None},
        {"type": "download", "file_ids": ["f"], "user_public_crypt4gh_key": "short"},
    ],
)
def test_bad_work_package_requests(
    endpoints: dict, operator: Operator, user: User, body: dict
) -> None:
    if body["user_public_crypt4gh_key"] is None:
        body["user_public_crypt4gh_key"] = user.public_b64
    response = operator.http.post(f"{endpoints['wps_url']}/work-packages", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["exception_id"] in ("validationError", "invalidPublicKey")


def test_expired_package_is_refused() -> None:
    """Core rule, with the repository in memory: expiry is checked on every use."""
    from functions.wps.core import WorkPackageService
    from shared.tokens import generate_signing_key
    from tests.fakes import RecordingPublisher
    from tests.fakes.wps import InMemoryWorkPackageRepository

    user = User.new()
    service = WorkPackageService(
        InMemoryWorkPackageRepository(),
        TokenSigner(generate_signing_key()[0]),
        RecordingPublisher(),
    )
    created = service.create(
        type="download",
        user_public_crypt4gh_key=user.public_b64,
        file_ids=["f"],
        lifetime=timedelta(seconds=-1),
    )
    with pytest.raises(Forbidden) as caught:
        service.authorize(created.id, unseal(created.sealed_token, user.private_key))
    assert caught.value.exception_id == "workPackageExpired"
