"""Why an upload is refused, in words the submitter can act on, and the outcome payloads."""

from __future__ import annotations

from typing import Any

from functions.irs.model import Interrogation
from shared.events import FileInterrogationFailure, FileInterrogationSuccess
from shared.ports import KeyStoreRejected

CHECKSUM_MISMATCH = "The declared SHA-256 checksum does not match the uploaded file's content."
NOT_FOR_ARCHIVE = "The file is not encrypted for this archive's public key."
NOT_CRYPT4GH = "The file is not a Crypt4GH file."
WRONG_SUBMITTER = (
    "The file was not encrypted with the submitter public key declared for this upload."
)
HEADER_CUT = "The file is truncated: it ends inside its Crypt4GH header."
BAD_SUBMITTER_KEY = "The declared submitter public key is not a Crypt4GH public key."
OBJECT_GONE = "The uploaded file is no longer in the inbox."
KEY_LOST = "The archive lost the key of this upload during its check; please upload it again."

_BY_EXCEPTION_ID = {
    "notCrypt4gh": NOT_CRYPT4GH,
    "wrongArchiveKey": NOT_FOR_ARCHIVE,
    "submitterKeyMismatch": WRONG_SUBMITTER,
    "headerTruncated": HEADER_CUT,
    "invalidPublicKey": BAD_SUBMITTER_KEY,
}


class Rejected(Exception):
    """The upload is refused for good; ``reason`` is shown to the submitter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def damaged(segment_number: int) -> str:
    return f"The encrypted file is damaged: segment {segment_number} failed authentication."


def truncated(expected: int, found: int) -> str:
    return f"The encrypted file is truncated (expected {expected} bytes, found {found})."


def too_long(expected: int, found: int) -> str:
    return (
        f"The encrypted file is longer than its declared content allows "
        f"(expected {expected} bytes, found {found})."
    )


def size_mismatch(declared: int, found: int) -> str:
    return f"The file has {found} bytes, but its declared encrypted size is {declared} bytes."


def rejected_header(error: KeyStoreRejected) -> str:
    """The reason for a header that EKSS refused (its descriptions hold no secrets)."""
    if error.exception_id == "validationError" and "public_key" in error.description:
        return BAD_SUBMITTER_KEY
    return _BY_EXCEPTION_ID.get(
        error.exception_id, f"The file's Crypt4GH header is not accepted: {error.description}"
    )


def success_payload(
    item: Interrogation, decrypted_sha256: str, staging_bucket: str
) -> dict[str, Any]:
    """FileInterrogationSuccess. ``offset`` is the header length of the inbox object; the
    staged object itself is header-less, its content starts at byte 0."""
    upload = item.upload
    assert upload is not None and item.staged_object_id and item.staging_part_size
    assert item.secret_id is not None and item.offset is not None
    return FileInterrogationSuccess(
        file_id=upload.file_id,
        box_id=upload.box_id,
        staged_object_id=item.staged_object_id,
        staging_bucket=staging_bucket,
        secret_id=item.secret_id,
        offset=item.offset,
        encrypted_part_size=item.staging_part_size,
        encrypted_parts_md5=[part.md5 for part in item.parts],
        encrypted_parts_sha256=[part.sha256 for part in item.parts],
        decrypted_sha256=decrypted_sha256,
        decrypted_size=item.plain_size,
        encrypted_size=(item.object_size or 0) - item.offset,
    ).model_dump()


def failure_payload(item: Interrogation, reason: str) -> dict[str, Any]:
    upload = item.upload
    assert upload is not None
    return FileInterrogationFailure(
        file_id=upload.file_id, box_id=upload.box_id, reason=reason
    ).model_dump()
