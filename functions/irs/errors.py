"""IRS's refusals and internal exceptions.

A refusal (Rejected) is for good: its reason is shown to the submitter in
FileInterrogationFailure, in words they can act on. The other exceptions are faults of the
archive: they leave the message for a retry and, if that keeps failing, the dead-letter
queue. Lost leases are shared.lease's LeaseLost.
"""

from __future__ import annotations

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
DECLARATION_UNREADABLE = (
    "The upload's declared part checksums cannot be read from the inbox; please upload it again."
)

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


def part_mismatch(part_number: int) -> str:
    return (
        f"The uploaded file does not match its declared checksums: part {part_number} has "
        "another SHA-256 than the one declared for it."
    )


def truncated(expected: int, found: int) -> str:
    return f"The encrypted file is truncated (expected {expected} bytes, found {found})."


def too_long(expected: int, found: int) -> str:
    return (
        f"The encrypted file is longer than its declared content allows "
        f"(expected {expected} bytes, found {found})."
    )


def too_large(decrypted_size: int, body_size: int, largest_body: int) -> str:
    return (
        f"The file is too large for this archive: its {decrypted_size} bytes encrypt to "
        f"{body_size} bytes, but at most {largest_body} encrypted bytes can be accepted."
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


class StagingIncomplete(RuntimeError):
    """The staged object is not what the checkpoint says; retried, then dead-lettered."""


class StagedPartMismatch(RuntimeError):
    """The staging bucket holds other bytes for a part than IRS sent: its ETag (the MD5 of
    what S3 received; the staging bucket is SSE-S3, infra/shared_terraform.py) is not the
    part's MD5. An archive fault: the part is not checkpointed, and the retry stages it
    again. Checked after the upload instead of sending Content-MD5, so that the MD5 is
    taken while the part is on its way rather than delaying it."""

    def __init__(self, number: int) -> None:
        super().__init__(f"staged part {number}: the object store's ETag is not its MD5")
        self.number = number
