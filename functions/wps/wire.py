"""What crosses WPS's wire: request bodies and the answers' JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from functions.wps.model import CreatedPackage, Revocation, WorkPackage


class CreateWorkPackage(BaseModel):
    type: Literal["download", "upload"]
    user_public_crypt4gh_key: str = Field(min_length=40, max_length=60)
    user_id: str | None = Field(default=None, max_length=200)
    file_ids: list[str] | None = Field(default=None, max_length=10_000)
    file_extensions: dict[str, str] | None = None
    file_upload_box_id: str | None = None
    research_data_upload_box_id: str | None = None
    lifetime_days: int | None = Field(default=None, ge=1, le=365)

    def lifetime(self) -> timedelta | None:
        return timedelta(days=self.lifetime_days) if self.lifetime_days else None


class UploadTokenRequest(BaseModel):
    work_type: Literal["create", "upload", "close", "delete", "view"]
    alias: str | None = Field(default=None, max_length=1024)
    file_id: str | None = None


def created_json(created: CreatedPackage) -> dict[str, Any]:
    return {"id": created.id, "token": created.sealed_token, "expires": created.expires.isoformat()}


def revocation_json(revocation: Revocation) -> dict[str, Any]:
    return {
        "id": revocation.id,
        "revoked": revocation.revoked.isoformat(),
        "revoked_by": revocation.revoked_by,
        "revoked_now": revocation.revoked_now,
    }


def package_json(package: WorkPackage) -> dict[str, Any]:
    """What the user may see of their package: never the token's hash."""
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
