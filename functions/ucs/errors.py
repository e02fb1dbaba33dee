"""UCS's refusals, with the exception ids GHGA's connector branches on (wire format §4.8),
and the one internal exception: a conditional write that lost."""

from __future__ import annotations

from typing import Any

from shared.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceError,
    TooManyRequests,
    Unprocessable,
)


class StaleState(Exception):
    """A conditional write lost: the upload, its alias or its box changed meanwhile.

    Never an answer: the core looks again and finds the exact refusal (or success)."""


def box_not_found() -> NotFound:
    return NotFound("There is no such upload box.", exception_id="boxNotFound")


def box_locked() -> Conflict:
    return Conflict(
        "The upload box is locked; its uploads cannot change until it is unlocked.",
        exception_id="boxStateError",
    )


def box_not_empty(open_uploads: int, inbox_uploads: int) -> Conflict:
    return Conflict(
        "The upload box still has uploads in progress or awaiting interrogation.",
        exception_id="boxNotEmpty",
        data={"init": open_uploads, "inbox": inbox_uploads},
    )


def upload_not_found() -> NotFound:
    return NotFound("There is no such file upload in this box.", exception_id="fileUploadNotFound")


def upload_state(state: str, why: str) -> Conflict:
    return Conflict(
        f"The file upload is in state {state!r}: {why}",
        exception_id="fileUploadStateError",
        data={"state": state},
    )


def upload_exists(file_id: str, state: str) -> Conflict:
    return Conflict(
        f"An upload with this alias already exists in state {state!r}.",
        exception_id="fileUploadAlreadyExists",
        data={"file_id": file_id, "state": state},
    )


def alias_taken() -> Conflict:
    """The alias is held by another submitter's upload in this private box: which upload,
    and in what state, is theirs to know."""
    return Conflict(
        "Another submitter's upload in this box has this alias; choose another alias.",
        exception_id="fileUploadAlreadyExists",
        data={},
    )


def concurrent_change() -> Conflict:
    return Conflict(
        "The upload or its box changed while this request was handled; please retry.",
        exception_id="concurrentChange",
    )


def too_many_open(limit: int, retry_after_s: int) -> TooManyRequests:
    return TooManyRequests(
        f"The upload box already has {limit} uploads in progress; finish or delete some first.",
        exception_id="tooManyOpenUploads",
        data={"limit": limit, "retry_after_s": retry_after_s},
    )


def box_full(max_size: int, used_size: int, requested: int) -> ServiceError:
    return ServiceError(
        "The upload would exceed the size limit of the upload box.",
        exception_id="boxMaxSizeExceeded",
        status=507,
        data={"max_size": max_size, "used_size": used_size, "requested": requested},
    )


def size_mismatch(description: str, **data: Any) -> BadRequest:
    return BadRequest(description, exception_id="uploadSizeMismatch", data=data)


def file_too_large(max_object_size: int) -> BadRequest:
    return BadRequest(
        f"Files above {max_object_size} bytes (encrypted) cannot be stored.",
        exception_id="fileTooLarge",
    )


def invalid_part_size(description: str, **data: Any) -> BadRequest:
    return BadRequest(description, exception_id="invalidPartSize", data=data)


def invalid_part_number(part_no: int, part_count: int) -> BadRequest:
    return BadRequest(
        f"Part number {part_no} is outside 1..{part_count}.",
        exception_id="invalidPartNumber",
        data={"part_no": part_no, "part_count": part_count},
    )


def part_number_not_integer() -> Unprocessable:
    return Unprocessable("part_no must be an integer.", exception_id="validationError")


def part_checksum_required(part_no: int) -> BadRequest:
    return BadRequest(
        "This upload verifies each part's SHA-256: ask for the part URL with the "
        "part's sha256 (hex) as the query parameter 'sha256'.",
        exception_id="partChecksumRequired",
        data={"part_no": part_no},
    )


def part_checksum_unexpected(part_no: int) -> BadRequest:
    return BadRequest(
        "This upload was created without part checksums (part_checksum): its parts are "
        "checked by their MD5 at close; ask for the part URL without 'sha256'.",
        exception_id="partChecksumNotExpected",
        data={"part_no": part_no},
    )


def malformed_part_checksum() -> Unprocessable:
    return Unprocessable(
        "sha256 must be 64 hexadecimal digits (the part's SHA-256).",
        exception_id="validationError",
    )


def close_body_mismatch(description: str) -> Unprocessable:
    """A close body without the md5s its upload needs, or with md5s it must not have."""
    return Unprocessable(description, exception_id="validationError")


def checksum_mismatch(description: str, **data: Any) -> BadRequest:
    return BadRequest(description, exception_id="checksumMismatch", data=data)


def s3_upload_missing() -> NotFound:
    return NotFound(
        "The storage has neither the multipart upload nor the finished object.",
        exception_id="s3UploadNotFound",
    )


def file_not_found() -> NotFound:
    return NotFound("There is no upload with this file id.", exception_id="fileUploadNotFound")


def malformed_file_id() -> NotFound:
    return NotFound(
        "This is not a file id: file ids are UUIDs (as `fs-admin list-box` shows them).",
        exception_id="fileUploadNotFound",
    )
