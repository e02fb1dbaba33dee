"""The WPS core with its repository in memory: fast, no stack, no DynamoDB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.wps.core import WorkPackageService
from shared.crypt.sealedbox import unseal
from shared.errors import ServiceError
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
    hash_secret,
)
from tests.fakes import RecordingPublisher
from tests.fakes.wps import InMemoryWorkPackageRepository
from tests.support import User

SIGNING_PRIVATE, SIGNING_PUBLIC = generate_signing_key()
VERIFIER = TokenVerifier(SIGNING_PUBLIC)


@pytest.fixture
def repository() -> InMemoryWorkPackageRepository:
    return InMemoryWorkPackageRepository()


@pytest.fixture
def wps(repository: InMemoryWorkPackageRepository) -> WorkPackageService:
    return WorkPackageService(
        repository, TokenSigner(SIGNING_PRIVATE), RecordingPublisher(), timedelta(days=3)
    )


@pytest.fixture
def user() -> User:
    return User.new()


def _refused(call, exception_id: str, status: int) -> None:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.exception_id, caught.value.status) == (exception_id, status)


def test_create_stores_only_the_token_hash(
    wps: WorkPackageService, repository: InMemoryWorkPackageRepository, user: User
) -> None:
    created = wps.create(
        type="download", user_public_crypt4gh_key=user.public_b64, file_ids=["a", "b", "a"]
    )
    token = unseal(created.sealed_token, user.private_key)
    stored = repository.packages[created.id]
    assert stored.token_sha256 == hash_secret(token) != token
    assert stored.file_ids == ["a", "b"]
    assert stored.research_data_upload_box_id is None
    assert timedelta(days=3) - (stored.expires - datetime.now(UTC)) < timedelta(minutes=1)
    assert wps.authorize(created.id, token) == stored


def test_upload_package_uses_its_box_for_both_ids(wps: WorkPackageService, user: User) -> None:
    created = wps.create(
        type="upload", user_public_crypt4gh_key=user.public_b64, file_upload_box_id="box"
    )
    package = wps.authorize(created.id, unseal(created.sealed_token, user.private_key))
    assert (package.file_upload_box_id, package.research_data_upload_box_id) == ("box", "box")


@pytest.mark.parametrize(
    ("fields", "exception_id"),
    [
        ({"type": "download"}, "validationError"),
        ({"type": "download", "file_ids": ["f"], "file_upload_box_id": "b"}, "validationError"),
        ({"type": "upload"}, "validationError"),
        ({"type": "upload", "file_upload_box_id": "b", "file_ids": ["f"]}, "validationError"),
        (
            {"type": "upload", "file_upload_box_id": "b", "user_public_crypt4gh_key": "x" * 44},
            "invalidPublicKey",
        ),
    ],
    ids=["download-no-files", "download-box", "upload-no-box", "upload-files", "bad-key"],
)
def test_create_refuses(
    wps: WorkPackageService,
    repository: InMemoryWorkPackageRepository,
    user: User,
    fields: dict,
    exception_id: str,
) -> None:
    _refused(
        lambda: wps.create(**{"user_public_crypt4gh_key": user.public_b64, **fields}),
        exception_id,
        422,
    )
    assert repository.packages == {}


def test_token_check(wps: WorkPackageService, user: User) -> None:
    created = wps.create(type="download", user_public_crypt4gh_key=user.public_b64, file_ids=["f"])
    _refused(lambda: wps.authorize(created.id, None), "notAuthorized", 401)
    _refused(lambda: wps.authorize(created.id, "wrong"), "noWorkPackageAccess", 403)
    token = unseal(created.sealed_token, user.private_key)
    # an unknown package looks like a wrong token: no enumeration of ids
    _refused(lambda: wps.authorize(str(uuid.uuid4()), token), "noWorkPackageAccess", 403)
    _refused(lambda: wps.authorize("not-a-uuid", token), "workPackageNotFound", 404)


def test_expired_package(wps: WorkPackageService, user: User) -> None:
    created = wps.create(
        type="download",
        user_public_crypt4gh_key=user.public_b64,
        file_ids=["f"],
        lifetime=timedelta(seconds=-1),
    )
    token = unseal(created.sealed_token, user.private_key)
    _refused(lambda: wps.authorize(created.id, token), "workPackageExpired", 403)


def test_download_wot_for_a_file_of_the_package(wps: WorkPackageService, user: User) -> None:
    created = wps.create(type="download", user_public_crypt4gh_key=user.public_b64, file_ids=["f"])
    package = wps.authorize(created.id, unseal(created.sealed_token, user.private_key))
    claims = VERIFIER.verify(
        unseal(wps.download_token(package, "f"), user.private_key), AUDIENCE_DOWNLOAD
    )
    assert (claims["type"], claims["file_id"], claims["work_package_id"]) == (
        "download",
        "f",
        created.id,
    )
    _refused(lambda: wps.download_token(package, "other"), "fileNotInPackage", 403)
    _refused(lambda: wps.upload_token(package, "box", "view"), "wrongWorkPackageType", 403)


def test_upload_wots(wps: WorkPackageService, user: User) -> None:
    created = wps.create(
        type="upload", user_public_crypt4gh_key=user.public_b64, file_upload_box_id="box"
    )
    package = wps.authorize(created.id, unseal(created.sealed_token, user.private_key))
    file_id = str(uuid.uuid4())
    sealed = wps.upload_token(package, "box", "close", file_id=file_id)
    claims = VERIFIER.verify(unseal(sealed, user.private_key), AUDIENCE_UPLOAD)
    assert (claims["work_type"], claims["box_id"], claims["file_id"]) == ("close", "box", file_id)
    assert "alias" not in claims
    _refused(lambda: wps.upload_token(package, "other-box", "view"), "boxNotInPackage", 403)
    _refused(lambda: wps.upload_token(package, "box", "create"), "validationError", 422)
    _refused(lambda: wps.upload_token(package, "box", "upload"), "validationError", 422)
    _refused(lambda: wps.upload_token(package, "box", "close", file_id="x"), "validationError", 422)
    _refused(lambda: wps.download_token(package, "f"), "wrongWorkPackageType", 403)


def test_packages_of_one_key_are_one_user_unless_told(wps: WorkPackageService, user: User) -> None:
    """A submitter's next package (the last expired or was revoked) still owns the uploads
    of the last one in a private box: without a user id, it follows from the key."""

    def upload(**extra: str) -> str:
        created = wps.create(
            type="upload",
            user_public_crypt4gh_key=user.public_b64,
            file_upload_box_id="box",
            **extra,
        )
        return wps.authorize(created.id, unseal(created.sealed_token, user.private_key)).user_id

    first, second = upload(), upload()
    assert first == second and uuid.UUID(first)
    assert upload(user_id="u-7") == "u-7"
    other = User.new()
    created = wps.create(
        type="upload", user_public_crypt4gh_key=other.public_b64, file_upload_box_id="box"
    )
    token = unseal(created.sealed_token, other.private_key)
    assert wps.authorize(created.id, token).user_id != first
