"""Work packages: who may do what, and the short-lived tokens that say so.

A work package grants one user (identified by their Crypt4GH public key)
either the download of some files or uploads into one box. The user holds
a work package access token (WPAT) of which only the sha256 is stored; with
it they obtain work order tokens (WOTs), ES256 JWTs of about 30 s, each for
one operation, handed over encrypted to their key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from shared.crypt.keys import decode_key, encode_key
from shared.crypt.sealedbox import seal
from shared.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    hash_secret,
    matches_hash,
    random_token,
)

PackageType = Literal["download", "upload"]
WorkType = Literal["create", "upload", "close", "delete", "view"]


@dataclass
class WorkPackage:
    id: str
    type: PackageType
    token_sha256: str
    user_id: str
    user_public_crypt4gh_key: str
    created: datetime
    expires: datetime
    file_ids: list[str] = field(default_factory=list)
    file_extensions: dict[str, str] = field(default_factory=dict)
    research_data_upload_box_id: str | None = None
    file_upload_box_id: str | None = None


class WorkPackageRepository(Protocol):
    def add(self, package: WorkPackage) -> None: ...
    def get(self, package_id: str) -> WorkPackage | None: ...


@dataclass(frozen=True)
class CreatedPackage:
    id: str
    sealed_token: str
    expires: datetime


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


class WorkPackageService:
    def __init__(
        self,
        repository: WorkPackageRepository,
        signer: TokenSigner,
        package_lifetime: timedelta = timedelta(days=30),
    ) -> None:
        self._repository = repository
        self._signer = signer
        self._lifetime = package_lifetime

    # ------------------------------------------------------------ operator

    def create(
        self,
        *,
        type: PackageType,
        user_public_crypt4gh_key: str,
        user_id: str | None = None,
        file_ids: list[str] | None = None,
        file_extensions: dict[str, str] | None = None,
        file_upload_box_id: str | None = None,
        research_data_upload_box_id: str | None = None,
        lifetime: timedelta | None = None,
    ) -> CreatedPackage:
        public_key = decode_key(user_public_crypt4gh_key)
        if type == "download":
            if not file_ids:
                raise Unprocessable(
                    "A download work package needs at least one file id.",
                    exception_id="validationError",
                )
            if file_upload_box_id or research_data_upload_box_id:
                raise Unprocessable(
                    "A download work package has no upload box.", exception_id="validationError"
                )
        else:
            if not file_upload_box_id:
                raise Unprocessable(
                    "An upload work package needs the id of its upload box.",
                    exception_id="validationError",
                )
            if file_ids:
                raise Unprocessable(
                    "An upload work package names no files.", exception_id="validationError"
                )
        token = random_token(24)
        now = datetime.now(UTC)
        package = WorkPackage(
            id=str(uuid.uuid4()),
            type=type,
            token_sha256=hash_secret(token),
            user_id=user_id or str(uuid.uuid4()),
            user_public_crypt4gh_key=encode_key(public_key),
            created=now,
            expires=now + (lifetime or self._lifetime),
            file_ids=list(dict.fromkeys(file_ids or [])),
            file_extensions=dict(file_extensions or {}),
            file_upload_box_id=file_upload_box_id,
            research_data_upload_box_id=(
                research_data_upload_box_id or file_upload_box_id if type == "upload" else None
            ),
        )
        self._repository.add(package)
        return CreatedPackage(package.id, seal(token, public_key), package.expires)

    # ------------------------------------------------------------ user

    def authorize(self, package_id: str, access_token: str | None) -> WorkPackage:
        """The package, if this WPAT opens it and it has not expired."""
        if not access_token:
            raise Unauthorized(
                "A work package access token is required.", exception_id="notAuthorized"
            )
        if not _is_uuid(package_id):
            raise NotFound("There is no such work package.", exception_id="workPackageNotFound")
        package = self._repository.get(package_id)
        # an unknown package and a wrong token look the same: no enumeration of ids
        if package is None or not matches_hash(access_token, package.token_sha256):
            raise Forbidden(
                "This access token does not open this work package.",
                exception_id="noWorkPackageAccess",
            )
        if package.expires <= datetime.now(UTC):
            raise Forbidden(
                "This work package has expired; ask for a new one.",
                exception_id="workPackageExpired",
            )
        return package

    def describe(self, package: WorkPackage) -> dict:
        return {
            "type": package.type,
            "files": {
                file_id: package.file_extensions.get(file_id, "") for file_id in package.file_ids
            },
            "research_data_upload_box_id": package.research_data_upload_box_id,
            "file_upload_box_id": package.file_upload_box_id,
            "created": package.created.isoformat(),
            "expires": package.expires.isoformat(),
        }

    def download_token(self, package: WorkPackage, file_id: str) -> str:
        if package.type != "download":
            raise Forbidden(
                "This work package is not for downloads.", exception_id="wrongWorkPackageType"
            )
        if file_id not in package.file_ids:
            raise Forbidden(
                "This file is not part of the work package.", exception_id="fileNotInPackage"
            )
        claims = {
            "type": "download",
            "file_id": file_id,
            **self._user_claims(package),
        }
        return self._sealed(package, self._signer.sign(claims, AUDIENCE_DOWNLOAD))

    def upload_token(
        self,
        package: WorkPackage,
        box_id: str,
        work_type: WorkType,
        alias: str | None = None,
        file_id: str | None = None,
    ) -> str:
        if package.type != "upload":
            raise Forbidden(
                "This work package is not for uploads.", exception_id="wrongWorkPackageType"
            )
        if box_id != package.research_data_upload_box_id:
            raise Forbidden(
                "This upload box is not part of the work package.", exception_id="boxNotInPackage"
            )
        if work_type == "create" and not alias:
            raise Unprocessable(
                "Creating an upload needs its alias.", exception_id="validationError"
            )
        if work_type in ("upload", "close", "delete") and not file_id:
            raise Unprocessable(
                f"A {work_type} token needs the file id.", exception_id="validationError"
            )
        if file_id is not None and not _is_uuid(file_id):
            raise Unprocessable("The file id is not a UUID.", exception_id="validationError")
        claims = {
            "work_type": work_type,
            "box_id": package.file_upload_box_id,
            **({"alias": alias} if work_type == "create" else {}),
            **({"file_id": file_id} if work_type in ("upload", "close", "delete") else {}),
            **self._user_claims(package),
        }
        return self._sealed(package, self._signer.sign(claims, AUDIENCE_UPLOAD))

    @staticmethod
    def _user_claims(package: WorkPackage) -> dict[str, str]:
        return {
            "work_package_id": package.id,
            "user_id": package.user_id,
            "user_public_crypt4gh_key": package.user_public_crypt4gh_key,
        }

    @staticmethod
    def _sealed(package: WorkPackage, token: str) -> str:
        return seal(token, decode_key(package.user_public_crypt4gh_key))
