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
