"""UCS's wire format: request bodies and answers (GHGA's, docs/ghga-wire-format.md §4)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, field_validator, model_validator

from functions.ucs import errors
from functions.ucs.deletion import awaited
from functions.ucs.model import Box, Checksums, NewUpload, Upload
from shared.multipart import MAX_PARTS, alias_problem
from shared.ports import PartInfo

# ------------------------------------------------------------------ request bodies

Md5Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class CreateBoxBody(BaseModel):
    max_size: StrictInt | None = Field(default=None, ge=1)
    description: str | None = Field(default=None, max_length=1000)
    # every submitter acts on every upload; by default each on their own (boxes.py)
    shared: StrictBool = False


class UpdateBoxBody(BaseModel):
    locked: StrictBool | None = None
    shared: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateBoxBody:
        if self.locked is None and self.shared is None:
            raise ValueError("name what to change: locked, shared or both")
        return self


class PurgeBody(BaseModel):
    """``DELETE /uploads/{file_id}``'s optional body: why the file is purged."""

    reason: str = Field(default="", max_length=1000)


class ListQuery(BaseModel):
    skip: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=100)


class CreateUploadBody(BaseModel):
    alias: str
    decrypted_size: StrictInt = Field(ge=0)
    encrypted_size: StrictInt = Field(ge=0)
    part_size: StrictInt = Field(ge=1)
    overwrite: StrictBool = False
    # the wire extension (docs/checksums.md); GHGA's client never sends it
    part_checksum: Literal["sha256"] | None = None

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        problem = alias_problem(alias)
        if problem:
            raise ValueError(f"the alias {problem}")
        return alias

    def new_upload(self) -> NewUpload:
        return NewUpload(
            alias=self.alias,
            decrypted_size=self.decrypted_size,
            encrypted_size=self.encrypted_size,
            part_size=self.part_size,
            overwrite=self.overwrite,
            part_checksum=self.part_checksum,
        )


def part_number(raw: str) -> int:
    """The part number of a URL path (422 validationError unless a plain integer)."""
    if not re.fullmatch(r"-?[0-9]{1,9}", raw):
        raise errors.part_number_not_integer()
    return int(raw)


def part_checksum(query: dict[str, str]) -> str | None:
    """The part's sha256 (lowercase hex) a part URL request names in ``?sha256=``
    (the wire extension), or None; 422 validationError unless 64 hex digits."""
    raw = query.get("sha256")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        raise errors.malformed_part_checksum()
    return raw.lower()


class CloseUploadBody(BaseModel):
    """GHGA's close body. The md5s may be left out only by an upload with part checksums
    (the core refuses either mismatch: ``UploadController.close``)."""

    decrypted_sha256: Sha256Hex
    encrypted_md5: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}-[0-9]{1,5}$")] | None = None
    encrypted_parts_md5: list[Md5Hex] | None = Field(default=None, max_length=MAX_PARTS)
    encrypted_parts_sha256: list[Sha256Hex] = Field(max_length=MAX_PARTS)

    def checksums(self) -> Checksums:
        md5s = self.encrypted_parts_md5
        return Checksums(
            decrypted_sha256=self.decrypted_sha256.lower(),
            encrypted_md5=self.encrypted_md5.lower() if self.encrypted_md5 else None,
            encrypted_parts_md5=[m.lower() for m in md5s] if md5s is not None else None,
            encrypted_parts_sha256=[s.lower() for s in self.encrypted_parts_sha256],
        )


# ------------------------------------------------------------------ answers

# the entity fields each answer shows as they are (dates in ISO 8601), in the wire's order
BOX_FIELDS = (
    "id",
    "max_size",
    "locked",
    "shared",
    "description",
    "created",
    "updated",
    "used_size",
)
UPLOAD_FIELDS = (
    "id",
    "alias",
    "decrypted_size",
    "encrypted_size",
    "part_size",
    "part_count",
    "state",
    "state_reason",
    "created",
    "updated",
)
UPLOAD_PLACE_FIELDS = ("box_id", "object_id")
UPLOAD_CHECKSUM_FIELDS = ("decrypted_sha256", "encrypted_md5", "encrypted_parts_digest")


def _projection(entity: Any, names: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(entity, name) for name in names}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def box_json(box: Box) -> dict[str, Any]:
    return {
        **_projection(box, BOX_FIELDS),
        "upload_count": box.active_uploads,
        "open_upload_count": box.open_uploads,
        "state_counts": dict(box.counts),
    }


def upload_json(upload: Upload) -> dict[str, Any]:
    return _projection(upload, UPLOAD_FIELDS)


def upload_list_json(uploads: list[Upload], total: int) -> dict[str, Any]:
    return {"items": [upload_json(u) for u in uploads], "total_count": total}


def deletion_json(upload: Upload, holders: tuple[str, ...]) -> dict[str, Any] | None:
    """Where the upload's purge stands (None: nobody asked for one)."""
    if upload.deletion_requested is None:
        return None
    done = upload.file_deleted_published
    return {
        "status": "deleted" if done is not None else "deleting",
        "requested_by": upload.deletion_requested_by,
        "requested": upload.deletion_requested.isoformat(),
        "reason": upload.deletion_reason or "",
        "confirmed": {
            service: list(removed)
            for service, removed in sorted(upload.deletion_confirmations.items())
        },
        "awaited": awaited(upload, holders),
        "deleted": done.isoformat() if done is not None else None,
    }


def upload_detail_json(
    upload: Upload, storage_alias: str, holders: tuple[str, ...]
) -> dict[str, Any]:
    """The operator's view of one upload (``fs-admin file-status``)."""
    return {
        **upload_json(upload),
        **_projection(upload, UPLOAD_PLACE_FIELDS),
        "storage_alias": storage_alias,
        **_projection(upload, UPLOAD_CHECKSUM_FIELDS),
        "deletion": deletion_json(upload, holders),
    }


def purge_json(upload: Upload, recorded: bool, holders: tuple[str, ...]) -> dict[str, Any]:
    """The answer to the operator's purge: the upload's state and the purge's."""
    return {
        "file_id": upload.id,
        "state": upload.state,
        "requested_now": recorded,  # False: asked before (and published again unless done)
        "deletion": deletion_json(upload, holders),
    }


def _extension(upload: Upload) -> dict[str, Any]:
    """The wire extension's field, only on uploads that asked for it (GHGA's answers stay
    as they were): the client learns from it that this UCS verifies part checksums."""
    return {"part_checksum": upload.part_checksum} if upload.part_checksum else {}


def created_json(upload: Upload, storage_alias: str) -> dict[str, Any]:
    answer = {"file_id": upload.id, "alias": upload.alias, "storage_alias": storage_alias}
    return {**answer, **_extension(upload)}


def _part_json(part: PartInfo) -> dict[str, Any]:
    item: dict[str, Any] = {"part_number": part.number, "size": part.size, "etag": part.etag}
    if part.checksum_sha256 is not None:  # as S3 verified it, where S3 reports it
        item["checksum_sha256"] = part.checksum_sha256
    return item


def stored_parts_json(upload: Upload, parts: list[PartInfo]) -> dict[str, Any]:
    return {
        "file_id": upload.id,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        **_extension(upload),
        "parts": [_part_json(p) for p in parts],
    }
