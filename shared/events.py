"""Event envelopes and payload schemas, in the style of GHGA's event schemas.

Every event travels as JSON ``{"event_id", "type", "key", "occurred", "payload"}``
on the SNS topic named after its type, delivered raw to the consumers'
SQS queues. Delivery is at least once and may be out of order: consumers
must be idempotent, and ``event_id`` lets them and the audit trail tell
duplicates apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("fs.events")


class EventSchema(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ManifestRef(EventSchema):
    """A part manifest (shared/manifest.py): where it lies and the SHA-256 of its bytes.

    Events carry this instead of per-part lists, which for 10,000 parts would not fit in
    one message."""

    bucket: str
    key: str
    sha256: str  # of the manifest object's bytes, lowercase hex
    size: int  # bytes of the manifest object
    parts: int  # how many parts it describes


class UploadDeclaration(EventSchema):
    """What the submitter declared of an upload and where it lies: the part of
    FileUploadReceived that interrogation keeps (IRS's ``Upload``)."""

    file_id: str
    box_id: str
    object_id: str
    bucket: str
    decrypted_size: int
    encrypted_size: int
    part_size: int
    submitter_public_key: str
    decrypted_sha256: str
    # the declared encrypted_parts_sha256 (and _md5, where declared), in the inbox beside
    # the object; IRS checks the sha256 of every part against it
    parts_manifest: ManifestRef


class FileUploadReceived(UploadDeclaration):
    alias: str
    encrypted_md5: str


class FileInterrogationSuccess(EventSchema):
    file_id: str
    box_id: str
    staged_object_id: str
    staging_bucket: str
    secret_id: str
    offset: int
    encrypted_part_size: int
    # md5 and sha256 of every staged part (of encrypted_part_size bytes), in staging beside
    # the staged object; in FileInternallyRegistered, the copy beside the permanent object
    parts_manifest: ManifestRef
    decrypted_sha256: str
    decrypted_size: int
    encrypted_size: int  # of the staged, header-less object


class FileInterrogationFailure(EventSchema):
    file_id: str
    box_id: str
    reason: str


class FileInternallyRegistered(FileInterrogationSuccess):
    object_id: str
    bucket: str


class NonStagedFileRequested(EventSchema):
    file_id: str
    target_object_id: str
    target_bucket: str
    decrypted_sha256: str


class FileStagedForDownload(NonStagedFileRequested):
    pass


# what a FileDownloadServed says was handed out (docs/audit.md)
ACCESS_DRS_OBJECT = "drs_object"  # GET /objects/{id}: a presigned URL of the whole content
ACCESS_ENVELOPE = "envelope"  # GET /objects/{id}/envelopes: the header for the reader's key
ACCESS_ASSEMBLED = "assembled"  # GET /objects/{id}/assembled: envelope + content bytes


def key_fingerprint(public_key: bytes) -> str:
    """How audit events name a Crypt4GH public key: the sha256 (hex) of its 32 raw bytes."""
    return hashlib.sha256(public_key).hexdigest()


class FileDownloadServed(EventSchema):
    """Audit: DCS handed a reader something of a file (docs/audit.md).

    GHGA's fields first (``context`` names who, as GHGA's does); ours after them, with
    defaults, so that GHGA's consumers and older events still parse. One event per
    (work package, file, reader key, access, range) within DCS's audit window: retries
    and renewals inside it publish nothing more. ``read_id`` names the read (the same in
    every window), so that a consumer can drop the rare duplicate within one window."""

    file_id: str
    target_object_id: str
    target_bucket: str
    decrypted_sha256: str
    context: str = ""
    access: str = ACCESS_DRS_OBJECT  # one of the ACCESS_* above
    user_id: str = ""
    work_package_id: str = ""
    reader_key_fingerprint: str = ""  # key_fingerprint() of the reader's key, never the key
    size: int | None = None  # bytes of the whole that was accessed (content, envelope, file)
    range_start: int | None = None  # a partial read: its first and last byte (inclusive)
    range_end: int | None = None
    read_id: str = ""
    # the reader read more ranges of the file in this window than are itemised
    # (DCS_AUDIT_MAX_RANGES): this event stands for all further ones until the window ends
    more_ranges: bool = False


class FileDeletionRequested(EventSchema):
    """Remove every trace of the file, wherever it lives (docs/deletion.md).

    Published by UCS, the one service that knows every file id: for an operator's purge
    (``fs-admin delete-file``) and for a submitter's deletion or replacement of an upload
    that was already closed (it may be interrogated, registered and served meanwhile).
    Every holder removes its part idempotently, keeps a tombstone so that nothing of the
    file is ever taken in again, and answers FileDeletionConfirmed.
    """

    file_id: str
    requested_by: str  # "operator", or the submitter's user id
    reason: str = ""


class FileDeletionConfirmed(EventSchema):
    """One holder (``service``) has removed its part of the file; sent again for every
    redelivered request. ``removed`` says what it held, in words (empty: nothing)."""

    file_id: str
    service: str
    requested_by: str
    removed: list[str] = []


class FileDeleted(EventSchema):
    """Every holder confirmed: nothing of the file is left anywhere (published by UCS)."""

    file_id: str
    requested_by: str
    confirmed_by: list[str]


class WorkPackageCreated(EventSchema):
    """Audit: the operator granted a user (by their Crypt4GH public key) downloads of some
    files or uploads into one box. Published by WPS with key=work package id; never the
    access token, nor its hash."""

    work_package_id: str
    type: str  # "download" or "upload"
    requested_by: str  # "operator"
    user_id: str
    user_public_crypt4gh_key: str
    file_ids: list[str] = []  # download packages
    box_id: str | None = None  # upload packages: the file upload box
    created: datetime
    expires: datetime


class WorkOrderTokenIssued(EventSchema):
    """Audit: WPS handed out one work order token (sealed to the user's key) for one
    operation. Published with key=work package id; never the token itself."""

    work_package_id: str
    work_type: str  # "download", or the upload operation: create, upload, close, delete, view
    user_id: str
    user_public_crypt4gh_key: str
    file_id: str | None = None
    box_id: str | None = None
    alias: str | None = None
    expires: datetime  # of the token: it is refused after this


class WorkPackageRevoked(EventSchema):
    """Audit: the package's access token is refused from ``revoked`` on (published again,
    the same, when the revocation is asked for again). Key: the work package id."""

    work_package_id: str
    revoked_by: str  # "operator"
    revoked: datetime


# the event catalogue: every event type there is, by name (its topic's name too)
SCHEMAS: dict[str, type[EventSchema]] = {
    cls.__name__: cls
    for cls in (
        FileUploadReceived,
        FileInterrogationSuccess,
        FileInterrogationFailure,
        FileInternallyRegistered,
        NonStagedFileRequested,
        FileStagedForDownload,
        FileDownloadServed,
        FileDeletionRequested,
        FileDeletionConfirmed,
        FileDeleted,
        WorkPackageCreated,
        WorkOrderTokenIssued,
        WorkPackageRevoked,
    )
}


EVENT_TYPES: tuple[str, ...] = tuple(SCHEMAS)


class Envelope(BaseModel):
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    key: str
    occurred: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    payload: dict[str, Any]

    def parsed(self) -> EventSchema:
        return SCHEMAS[self.type].model_validate(self.payload)


class BadEvent(ValueError):
    """A message that is not one of our events: logged and dropped, never retried."""


def envelope(event: EventSchema, key: str | None = None) -> Envelope:
    """The event in its envelope: the type is the class's name, the key the file id unless
    given (the file events are about one file; WPS's audit events give their package id)."""
    return Envelope(
        type=type(event).__name__,
        key=key if key is not None else str(event.file_id),
        payload=event.model_dump(),
    )


def parse_message(body: str) -> Envelope:
    """Parse an SQS message body (raw SNS delivery, or an SNS notification wrapper)."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])
        result = Envelope.model_validate(data)
    except (json.JSONDecodeError, ValueError) as error:
        raise BadEvent("message is not an event envelope") from error
    if result.type not in SCHEMAS:
        raise BadEvent(f"unknown event type {result.type!r}")
    return result


def deliver(
    records: Iterable[Any],
    handlers: Mapping[type[EventSchema], Callable[[Any], object]],
) -> None:
    """Hand each SQS record's event to the handler for its type (keyed by event class).

    What is not one of our events is logged and dropped (a retry cannot fix it);
    event types the consumer has no handler for are acknowledged and ignored.
    Exceptions from a handler propagate, so the message is delivered again.
    """
    for record in records:
        try:
            message = parse_message(record.body)
            event = message.parsed()
        except (BadEvent, ValueError):
            log.warning("message is not one of our events; dropped")
            continue
        handler = handlers.get(type(event))
        if handler is None:
            log.info("event needs nothing here", extra={"event_type": message.type})
            continue
        handler(event)
