"""Work packages: who may do what, and the short-lived tokens that say so.

A work package grants one user (identified by their Crypt4GH public key)
either the download of some files or uploads into one box. The user holds
a work package access token (WPAT) of which only the sha256 is stored; with
it they obtain work order tokens (WOTs), ES256 JWTs of about 30 s, each for
one operation, handed over encrypted to their key.

Every creation, every WOT and every revocation is an audit event (functions/wps/audit.py),
published before the token leaves: what was handed out was audited.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.wps import errors
from functions.wps.audit import Audit
from functions.wps.model import (
    OPERATOR,
    PACKAGE_LIFETIME_DAYS,
    CreatedPackage,
    PackageType,
    Revocation,
    WorkPackage,
    WorkPackageRepository,
    WorkType,
)
from shared.crypt.keys import KeyFormatError, decode_key, decode_public_key, encode_key
from shared.crypt.sealedbox import seal
from shared.ports import EventPublisher
from shared.tokens import (
    AUDIENCE_DOWNLOAD,
    AUDIENCE_UPLOAD,
    TokenSigner,
    hash_secret,
    matches_hash,
    random_token,
)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


# the namespace of user ids derived from a key (uuid5): fixed, so that an id once given stays
_KEY_USER_NAMESPACE = uuid.UUID("5d8c4d6e-6f1a-4b7e-9a43-2f0e1c9b7a10")


def key_user_id(public_key: bytes) -> str:
    """The user id of a package created without one: the same for every package of one
    Crypt4GH key, so that a submitter's next package (after one expired or was revoked)
    still owns the uploads of the last in a private box (functions/ucs/boxes.py)."""
    return str(uuid.uuid5(_KEY_USER_NAMESPACE, public_key.hex()))


class WorkPackageService:
    def __init__(
        self,
        repository: WorkPackageRepository,
        signer: TokenSigner,
        publisher: EventPublisher,
        package_lifetime: timedelta = timedelta(days=PACKAGE_LIFETIME_DAYS),
    ) -> None:
        self._repository = repository
        self._signer = signer
        self._audit = Audit(publisher)
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
        """A new package; its access token goes back only sealed to the user's key."""
        try:
            public_key = decode_public_key(user_public_crypt4gh_key)
        except KeyFormatError as error:
            raise errors.invalid_public_key(error) from error
        if type == "download":
            if not file_ids:
                raise errors.invalid_request("A download work package needs at least one file id.")
            if file_upload_box_id or research_data_upload_box_id:
                raise errors.invalid_request("A download work package has no upload box.")
        else:
            if not file_upload_box_id:
                raise errors.invalid_request(
                    "An upload work package needs the id of its upload box."
                )
            if file_ids:
                raise errors.invalid_request("An upload work package names no files.")
        token = random_token(24)
        now = datetime.now(UTC)
        package = WorkPackage(
            id=str(uuid.uuid4()),
            type=type,
            token_sha256=hash_secret(token),
            user_id=user_id or key_user_id(public_key),
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
        # stored first, audited next, handed out last: if the event cannot be published the
        # caller never sees the token, and a package nobody holds the token of opens nothing
        self._audit.created(package, OPERATOR)
        return CreatedPackage(package.id, seal(token, public_key), package.expires)

    def revoke(self, package_id: str, revoked_by: str = OPERATOR) -> Revocation:
        """Revoke a package at once: its access token is refused from then on, so no
        further WOT is issued. WOTs issued before keep their short lifetime (the
        signer's, about 30 s): they are not recorded anywhere to be withdrawn.

        Asking again is fine: it changes nothing, says the package was already revoked,
        and publishes the same WorkPackageRevoked again (so that an event lost after the
        revocation is made good by asking again; consumers see it at least once).
        """
        if not _is_uuid(package_id):
            raise errors.package_not_found()
        revoked_now = self._repository.revoke(package_id, datetime.now(UTC), revoked_by)
        package = self._repository.get(package_id)
        if package is None or package.revoked is None:
            raise errors.package_not_found()
        by = package.revoked_by or revoked_by
        self._audit.revoked(package.id, package.revoked, by, revoked_now)
        return Revocation(package.id, package.revoked, by, revoked_now)

    # ------------------------------------------------------------ user

    def authorize(self, package_id: str, access_token: str | None) -> WorkPackage:
        """The package, if this WPAT opens it and it has not expired."""
        if not access_token:
            raise errors.token_required()
        if not _is_uuid(package_id):
            raise errors.package_not_found()
        package = self._repository.get(package_id)
        # an unknown package and a wrong token look the same: no enumeration of ids
        if package is None or not matches_hash(access_token, package.token_sha256):
            raise errors.no_access()
        if package.revoked is not None:
            raise errors.package_revoked()
        if package.expires <= datetime.now(UTC):
            raise errors.package_expired()
        return package

    def download_token(self, package: WorkPackage, file_id: str) -> str:
        """A sealed WOT to download one file of the package."""
        if package.type != "download":
            raise errors.wrong_package_type("downloads")
        if file_id not in package.file_ids:
            raise errors.file_not_in_package()
        claims = {
            "type": "download",
            "file_id": file_id,
            **self._user_claims(package),
        }
        return self._issue(package, claims, AUDIENCE_DOWNLOAD, work_type="download")

    def upload_token(
        self,
        package: WorkPackage,
        box_id: str,
        work_type: WorkType,
        alias: str | None = None,
        file_id: str | None = None,
    ) -> str:
        """A sealed WOT for one operation on the package's upload box."""
        if package.type != "upload":
            raise errors.wrong_package_type("uploads")
        if box_id != package.research_data_upload_box_id:
            raise errors.box_not_in_package()
        if work_type == "create" and not alias:
            raise errors.invalid_request("Creating an upload needs its alias.")
        if work_type in ("upload", "close", "delete") and not file_id:
            raise errors.invalid_request(f"A {work_type} token needs the file id.")
        if file_id is not None and not _is_uuid(file_id):
            raise errors.invalid_request("The file id is not a UUID.")
        claims = {
            "work_type": work_type,
            "box_id": package.file_upload_box_id,
            **({"alias": alias} if work_type == "create" else {}),
            **({"file_id": file_id} if work_type in ("upload", "close", "delete") else {}),
            **self._user_claims(package),
        }
        return self._issue(package, claims, AUDIENCE_UPLOAD, work_type=work_type)

    def _issue(
        self, package: WorkPackage, claims: dict[str, Any], audience: str, work_type: str
    ) -> str:
        """Sign, audit, then seal: no token leaves whose issue was not published."""
        issued = int(time.time())
        token = self._signer.sign(claims, audience, now=issued)
        self._audit.token_issued(
            package,
            work_type=work_type,
            expires=datetime.fromtimestamp(issued + self._signer.lifetime, UTC),
            file_id=claims.get("file_id"),
            box_id=claims.get("box_id"),
            alias=claims.get("alias"),
        )
        return self._sealed(package, token)

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
