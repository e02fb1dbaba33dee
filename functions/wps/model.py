"""Work packages: the entity, its kinds, and the repository port WPS keeps them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

PackageType = Literal["download", "upload"]
WorkType = Literal["create", "upload", "close", "delete", "view"]

PACKAGE_LIFETIME_DAYS = 30  # unless the operator asks for another lifetime
WOT_LIFETIME_S = 30  # a work order token is for one operation, right now
OPERATOR = "operator"  # who asked, in the audit events: the one operator token


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
    # set once by the operator's revocation: the access token is refused from then on
    revoked: datetime | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class CreatedPackage:
    id: str
    sealed_token: str  # the access token, encrypted to the user's key
    expires: datetime


@dataclass(frozen=True)
class Revocation:
    id: str
    revoked: datetime  # of the first revocation
    revoked_by: str
    revoked_now: bool  # False: it was revoked before


class WorkPackageRepository(Protocol):
    def add(self, package: WorkPackage) -> None:
        """Store a new package; an existing id must fail, never be overwritten."""
        ...

    def get(self, package_id: str) -> WorkPackage | None: ...

    def revoke(self, package_id: str, revoked: datetime, revoked_by: str) -> bool:
        """Mark an existing, unrevoked package revoked (one conditional write); False, and
        nothing written, if the package is unknown or was revoked before."""
        ...
