"""UCS's wire format: request bodies and answers (GHGA's, docs/ghga-wire-format.md §4)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator

from functions.ucs.models import Box, Checksums, Upload
from shared.multipart import MAX_PARTS, alias_problem

# ------------------------------------------------------------------ request bodies

Md5Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class CreateBoxBody(BaseModel):
    max_size: StrictInt | None = Field(default=None, ge=1)
    description: str | None = Field(default=None, max_length=1000)


class UpdateBoxBody(BaseModel):
    locked: StrictBool


class ListQuery(BaseModel):
    skip: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=100)


class CreateUploadBody(BaseModel):
    alias: str
    decrypted_size: StrictInt = Field(ge=0)
    encrypted_size: StrictInt = Field(ge=0)
    part_size: StrictInt = Field(ge=1)
    overwrite: StrictBool = False

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        problem = alias_problem(alias)
        if problem:
            raise ValueError(f"the alias {problem}")
        return alias


class CloseUploadBody(BaseModel):
    decrypted_sha256: Sha256Hex
    encrypted_md5: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}-[0-9]{1,5}$")]
    encrypted_parts_md5: list[Md5Hex] = Field(max_length=MAX_PARTS)
    encrypted_parts_sha256: list[Sha256Hex] = Field(max_length=MAX_PARTS)

    def checksums(self) -> Checksums:
        return Checksums(
            decrypted_sha256=self.decrypted_sha256.lower(),
            encrypted_md5=self.encrypted_md5.lower(),
            encrypted_parts_md5=[m.lower() for m in self.encrypted_parts_md5],
            encrypted_parts_sha256=[s.lower() for s in self.encrypted_parts_sha256],
        )


# ------------------------------------------------------------------ answers


def box_json(box: Box) -> dict[str, Any]:
    return {
        "id": box.id,
        "max_size": box.max_size,
        "locked": box.locked,
        "description": box.description,
        "created": box.created.isoformat(),
        "updated": box.updated.isoformat(),
        "used_size": box.used_size,
        "upload_count": box.active_uploads,
        "open_upload_count": box.open_uploads,
        "state_counts": dict(box.counts),
    }


def upload_json(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "alias": upload.alias,
        "decrypted_size": upload.decrypted_size,
        "encrypted_size": upload.encrypted_size,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "state": upload.state,
        "state_reason": upload.state_reason,
        "created": upload.created.isoformat(),
        "updated": upload.updated.isoformat(),
    }


def upload_detail_json(upload: Upload, storage_alias: str) -> dict[str, Any]:
    return {
        **upload_json(upload),
        "box_id": upload.box_id,
        "object_id": upload.object_id,
        "storage_alias": storage_alias,
        "decrypted_sha256": upload.decrypted_sha256,
        "encrypted_md5": upload.encrypted_md5,
        "encrypted_parts_digest": upload.encrypted_parts_digest,
    }
