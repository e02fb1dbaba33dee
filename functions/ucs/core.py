"""The upload controller: file uploads into boxes, as S3 multipart uploads in the inbox.

Every state change is a conditional write (see the repository), and every step that
touches S3 is ordered so that a call that dies half-way can be repeated and converges:

* create: the multipart upload is started first; if the record is never written, the
  clean-up aborts the orphaned multipart upload.
* close: parts are checked, the multipart upload completed, the declared part checksums
  written to the object's manifest, then the state moves to ``inbox`` (recording that
  FileUploadReceived is due), then the event is published and marked as published. A
  repeated close finds the object already complete (and checks its ETag; the manifest is
  rewritten with the same bytes), or the state already ``inbox`` with the same checksums
  (and publishes again if that had not happened); the hourly clean-up publishes what no
  close repeated (functions/ucs/announce.py).
* delete and clean-up: the state moves to ``cancelled`` first, then the storage is freed
  (abort the multipart upload, remove any object under the key and its manifest). A
  repeated delete of a cancelled upload frees the storage again.
* delete or replacement of a closed upload: interrogation, registration and download may
  already be under way, so the move to ``cancelled`` records a purge request too, and
  FileDeletionRequested goes out after the storage is freed (functions/ucs/deletion.py).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.ucs import errors
from functions.ucs.announce import ReceivedAnnouncer
from functions.ucs.boxes import find_box, is_uuid, may_act_on
from functions.ucs.completion import complete_checked, declared_manifest
from functions.ucs.deletion import DELETED_BY_SUBMITTER, REPLACED, SUBMITTER, announce_request
from functions.ucs.errors import StaleState
from functions.ucs.model import (
    ACTIVE_STATES,
    ACTIVITY_RESOLUTION,
    BOX_OPEN,
    CANCELLED,
    DELETED,
    FAILED,
    INBOX,
    INIT,
    PART_CHECKSUM_SHA256,
    Box,
    Checksums,
    DeletionRequest,
    NewUpload,
    UcsRepository,
    Upload,
)
from shared.clock import utcnow
from shared.crypt.c4gh import encrypted_size as c4gh_encrypted_size
from shared.errors import ServiceError
from shared.manifest import remove_with_manifest, write_manifest
from shared.multipart import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    part_count,
    part_length,
)
from shared.ports import EventPublisher, ObjectNotFound, ObjectStorage, PartInfo

log = logging.getLogger("fs.ucs")
CREATE_ATTEMPTS = 3
TRANSITION_ATTEMPTS = 3
BOX_WAS_LOCKED = "box locked"  # what stopped a transition, when it was not another state


@dataclass(frozen=True)
class UploadPolicy:
    """The controller's settings; every value comes from the config (UcsConfig.policy)."""

    inbox_bucket: str
    storage_alias: str
    max_open_uploads_per_box: int
    retry_after_s: int
    # a part URL lives as long as its part needs (UcsConfig explains the three)
    part_url_min_lifetime_s: int
    part_url_bytes_per_s: int
    part_url_max_lifetime_s: int

    def part_url_lifetime_s(self, length: int) -> int:
        """Seconds a URL for a part of ``length`` bytes stays valid: the floor plus the
        part's bytes at the slowest uplink allowed for, at most the maximum. A leaked
        URL is worth little for long, and each part asks for its own URL when it starts."""
        wanted = self.part_url_min_lifetime_s + math.ceil(length / self.part_url_bytes_per_s)
        return min(self.part_url_max_lifetime_s, wanted)


class UploadController:
    def __init__(
        self,
        repository: UcsRepository,
        storage: ObjectStorage,
        publisher: EventPublisher,
        policy: UploadPolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._publisher = publisher
        self._policy = policy
        self._clock = clock
        self.announcer = ReceivedAnnouncer(repository, publisher, policy.inbox_bucket)
        self._actor: str | None = None  # None: the operator, who sees every upload

    def acting_for(self, user_id: str | None) -> UploadController:
        """This controller for one submitter (their tokens' ``user_id``): in a private box
        they see and change only their own uploads; another's is "not found" to them
        (functions/ucs/boxes.py)."""
        view = copy.copy(self)
        view._actor = user_id or ""
        return view

    def _may_act_on(self, box: Box, upload: Upload) -> bool:
        return self._actor is None or may_act_on(box, upload, self._actor)

    # ------------------------------------------------------------ reading

    def list_uploads(self, box_id: str, skip: int, limit: int) -> tuple[list[Upload], int]:
        box = find_box(self._repository, box_id)
        mine = None if self._actor is None or box.shared else self._actor
        return self._repository.list_uploads(box_id, skip, limit, created_by=mine)

    def get_upload(self, file_id: str) -> Upload:
        upload = self._repository.get_upload(file_id) if is_uuid(file_id) else None
        if upload is None:
            raise errors.upload_not_found()
        return upload

    def find_upload(self, file_id: str) -> Upload:
        """An upload by its id alone (the operator's routes): a clear 404 if the id is
        malformed or unknown."""
        if not is_uuid(file_id):
            raise errors.malformed_file_id()
        upload = self._repository.get_upload(file_id)
        if upload is None:
            raise errors.file_not_found()
        return upload

    def upload_in_box(self, box_id: str, file_id: str) -> tuple[Box, Upload]:
        box = find_box(self._repository, box_id)
        upload = self.get_upload(file_id)
        if upload.box_id != box_id:  # the token and URL agree, but the file lives elsewhere
            raise errors.upload_not_found()
        if not self._may_act_on(box, upload):  # another submitter's, in a private box
            raise errors.upload_not_found()
        return box, upload

    # ------------------------------------------------------------ create

    def create_upload(
        self, box_id: str, request: NewUpload, created_by: str | None = None
    ) -> Upload:
        count = self._check_sizes(request)
        file_id = str(uuid.uuid4())
        s3_upload_id: str | None = None
        try:
            for _ in range(CREATE_ATTEMPTS):
                box = find_box(self._repository, box_id)
                if box.status != BOX_OPEN:
                    raise errors.box_locked()
                holder_id, replacing = self._alias_situation(box, request)
                self._check_limits(box, request, replacing)
                # a closed upload may be interrogated, registered, served meanwhile: purge it
                purge = (
                    DeletionRequest(self._clock(), created_by or SUBMITTER, REPLACED)
                    if replacing is not None and replacing.state == INBOX
                    else None
                )
                if s3_upload_id is None:
                    s3_upload_id = self._storage.create_multipart(
                        self._policy.inbox_bucket,
                        file_id,
                        checksum_sha256=request.part_checksum == PART_CHECKSUM_SHA256,
                    )
                now = self._clock()
                upload = Upload(
                    id=file_id,
                    box_id=box_id,
                    alias=request.alias,
                    decrypted_size=request.decrypted_size,
                    encrypted_size=request.encrypted_size,
                    part_size=request.part_size,
                    state=INIT,
                    created=now,
                    updated=now,
                    s3_upload_id=s3_upload_id,
                    object_id=file_id,  # the key is the id, never the alias
                    created_by=created_by,
                    part_checksum=request.part_checksum,
                )
                try:
                    self._repository.create_upload(
                        upload,
                        box_max_size=box.max_size,
                        max_open=self._policy.max_open_uploads_per_box,
                        replacing=replacing,
                        claim_holder=holder_id,
                        replacing_deletion=purge,
                    )
                except StaleState:
                    continue  # look again: the refusal (or success) will be exact
                s3_upload_id = None  # the record owns the multipart upload now
                if replacing is not None:
                    self.free_storage(replacing, replacing.state)
                if replacing is not None and purge is not None:
                    announce_request(self._publisher, replacing.id, purge.requested_by, REPLACED)
                log.info(
                    "upload created",
                    extra={"file_id": file_id, "box_id": box_id, "part_count": count},
                )
                return upload
            raise errors.concurrent_change()
        except ServiceError:
            # refused: the multipart upload is nobody's. (After any other failure the
            # record may or may not exist; the clean-up aborts the upload if it is an orphan.)
            if s3_upload_id is not None:
                self._storage.abort_multipart(self._policy.inbox_bucket, file_id, s3_upload_id)
            raise

    @staticmethod
    def _check_sizes(request: NewUpload) -> int:
        expected = c4gh_encrypted_size(request.decrypted_size)
        if request.encrypted_size != expected:
            raise errors.size_mismatch(
                "encrypted_size does not match decrypted_size: a Crypt4GH file with one "
                f"recipient of {request.decrypted_size} bytes has {expected} bytes.",
                expected_encrypted_size=expected,
            )
        if request.encrypted_size > MAX_OBJECT_SIZE:
            raise errors.file_too_large(MAX_OBJECT_SIZE)
        if not MIN_PART_SIZE <= request.part_size <= MAX_PART_SIZE:
            raise errors.invalid_part_size(
                f"part_size must be from {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes.",
                min_part_size=MIN_PART_SIZE,
                max_part_size=MAX_PART_SIZE,
            )
        count = part_count(request.encrypted_size, request.part_size)
        if count > MAX_PARTS:
            raise errors.invalid_part_size(
                f"part_size is too small: the file would need {count} parts, "
                f"at most {MAX_PARTS} are possible.",
                part_count=count,
                max_parts=MAX_PARTS,
            )
        return count

    def _alias_situation(self, box: Box, request: NewUpload) -> tuple[str | None, Upload | None]:
        """(current holder of the alias, the upload to replace) or a 409."""
        holder_id = self._repository.alias_holder(box.id, request.alias)
        if holder_id is None:
            return None, None
        holder = self._repository.get_upload(holder_id)
        if holder is None or holder.state not in ACTIVE_STATES:
            return holder_id, None  # a stale claim: take it over
        if not self._may_act_on(box, holder):  # aliases are the box's: taken, not replaced
            raise errors.alias_taken()
        if not request.overwrite or holder.state not in (INIT, INBOX):
            raise errors.upload_exists(holder.id, holder.state)
        return holder_id, holder

    def _check_limits(self, box: Box, request: NewUpload, replacing: Upload | None) -> None:
        limit = self._policy.max_open_uploads_per_box
        added_open = 0 if replacing is not None and replacing.state == INIT else 1
        if box.open_uploads + added_open > limit:
            raise errors.too_many_open(limit, self._policy.retry_after_s)
        freed = replacing.encrypted_size if replacing is not None else 0
        if box.used_size - freed + request.encrypted_size > box.max_size:
            raise errors.box_full(box.max_size, box.used_size, request.encrypted_size)

    # ------------------------------------------------------------ parts

    def part_url(self, box_id: str, file_id: str, part_no: int, sha256: str | None = None) -> str:
        """A presigned PUT of exactly this part: the URL signs the part's Content-Length
        (from the declared sizes), so S3 refuses a body of any other size and the box's
        quota, counted from the declared sizes, holds; it lives as long as the part needs.

        An upload with part checksums (the wire extension, docs/checksums.md) names the
        part's ``sha256`` before sending it: the URL signs it too (x-amz-checksum-sha256),
        so S3 refuses any other value (403) and any body that does not match it (400
        BadDigest). Such an upload gets no URL without it, and GHGA's MD5 uploads none with
        it (their parts are checked by MD5 at close; a client that believed S3 checked more
        would be wrong).
        """
        upload = self._open_upload(box_id, file_id)
        if not 1 <= part_no <= upload.part_count:
            raise errors.invalid_part_number(part_no, upload.part_count)
        if upload.part_checksum == PART_CHECKSUM_SHA256 and sha256 is None:
            raise errors.part_checksum_required(part_no)
        if upload.part_checksum is None and sha256 is not None:
            raise errors.part_checksum_unexpected(part_no)
        length = part_length(upload.encrypted_size, upload.part_size, part_no)
        self._note_activity(upload)
        return self._storage.presign_upload_part(
            self._policy.inbox_bucket,
            upload.object_id,
            upload.s3_upload_id,
            part_no,
            self._policy.part_url_lifetime_s(length),
            content_length=length,
            checksum_sha256=sha256,
        )

    def stored_parts(self, box_id: str, file_id: str) -> tuple[Upload, list[PartInfo]]:
        """The parts S3 already has, so that an interrupted upload can resume."""
        _, upload = self.upload_in_box(box_id, file_id)
        if upload.state != INIT:
            raise errors.upload_state(upload.state, "only an open upload has parts to resume.")
        try:
            parts = self._storage.list_parts(
                self._policy.inbox_bucket, upload.object_id, upload.s3_upload_id
            )
        except ObjectNotFound as error:
            raise errors.s3_upload_missing() from error
        self._note_activity(upload)
        return upload, sorted(parts, key=lambda part: part.number)

    def _note_activity(self, upload: Upload) -> None:
        """Record that the open upload's client is at work, at most once per
        ACTIVITY_RESOLUTION: the clean-up judges abandonment by the last activity, and a
        write per part URL would cost as much as the parts (a conditional write: racing
        requests write once)."""
        now = self._clock()
        stale_before = now - ACTIVITY_RESOLUTION
        if upload.last_activity is None or upload.last_activity < stale_before:
            self._repository.record_activity(upload.id, now, stale_before)

    def _open_upload(self, box_id: str, file_id: str) -> Upload:
        box, upload = self.upload_in_box(box_id, file_id)
        if upload.state != INIT:
            raise errors.upload_state(upload.state, "parts can only be added to an open upload.")
        if box.locked:
            raise errors.box_locked()
        return upload

    # ------------------------------------------------------------ close

    def close(
        self, box_id: str, file_id: str, checksums: Checksums, submitter_public_key: str
    ) -> None:
        box, upload = self.upload_in_box(box_id, file_id)
        if upload.state != INIT:
            if upload.state in ACTIVE_STATES and upload.closed_with(checksums):
                # a retried close (GHGA's client retries PATCH): same answer, and the
                # event goes out if the first attempt died before publishing it
                if upload.state == INBOX and not upload.received_published:
                    self._announce(upload)  # the record has all it needs
                return
            raise errors.upload_state(upload.state, "only an open upload can be closed.")
        if box.locked:
            raise errors.box_locked()
        try:
            etag = complete_checked(self._storage, self._policy.inbox_bucket, upload, checksums)
        except Exception as error:
            # S3 may fail in any way when a delete aborts the upload under our feet
            # (moto even answers 500); if the state moved, that is the real answer
            current = self._repository.get_upload(upload.id)
            if current is not None and current.state != INIT:
                raise self._lost_close(upload, current.state) from error
            raise
        # without declared md5s the object's ETag is the one S3 computed (and reports)
        checksums = dataclasses.replace(checksums, encrypted_md5=etag)
        # the lists go beside the object before the state says it is there (a repeated
        # close writes the same bytes); the record keeps their digest, not the lists
        manifest = write_manifest(
            self._storage,
            self._policy.inbox_bucket,
            upload.object_id,
            declared_manifest(upload, checksums),
        )
        refusal = self._move(
            upload,
            INBOX,
            require_open_box=True,
            checksums=checksums,
            submitter_public_key=submitter_public_key,
            parts_manifest=manifest,
        )
        if refusal is not None:
            raise self._lost_close(upload, refusal)
        closed = dataclasses.replace(
            upload,
            state=INBOX,
            submitter_public_key=submitter_public_key,
            decrypted_sha256=checksums.decrypted_sha256,
            encrypted_md5=checksums.encrypted_md5,
            encrypted_parts_digest=checksums.parts_digest(),
            parts_manifest_sha256=manifest.sha256,
            parts_manifest_size=manifest.size,
        )
        self._announce(closed)

    def _announce(self, upload: Upload) -> None:
        """FileUploadReceived for a closed upload. The close is recorded, so it has
        succeeded whatever the publish does: a publish that fails is left to the clean-up's
        sweep (announce.py), and the client is not told to retry what is done."""
        try:
            self.announcer.announce(upload)
        except Exception as error:
            log.warning(
                "upload closed; announcing it failed, the clean-up will",
                extra={"file_id": upload.id, "error": type(error).__name__},
            )

    def _lost_close(self, upload: Upload, refusal: str) -> Exception:
        """Why a close that may have completed the object lost; tidy up after it."""
        if refusal == BOX_WAS_LOCKED:
            return errors.box_locked()
        if refusal in (CANCELLED, DELETED):
            # deleted, purged or cleaned up meanwhile: the object just completed is nobody's
            remove_with_manifest(self._storage, self._policy.inbox_bucket, upload.object_id)
            return errors.upload_state(refusal, "it was deleted while it was being closed.")
        return errors.upload_state(refusal, "it was closed by another request.")

    def _move(self, upload: Upload, to: str, **options: Any) -> str | None:
        """Move ``upload`` to ``to``: None, or what stopped it (its new state, or a lock).

        A transaction may also be cancelled with nothing changed (DynamoDB's transaction
        conflicts); then it is simply tried again.
        """
        for _ in range(TRANSITION_ATTEMPTS):
            try:
                self._repository.transition(upload, to, now=self._clock(), **options)
                return None
            except StaleState:
                current = self._repository.get_upload(upload.id)
                state = current.state if current is not None else CANCELLED
                if state != upload.state:
                    return state
                box = self._repository.get_box(upload.box_id)
                if options.get("require_open_box") and (box is None or box.status != BOX_OPEN):
                    return BOX_WAS_LOCKED
        raise errors.concurrent_change()

    # ------------------------------------------------------------ delete

    def delete(self, box_id: str, file_id: str, requested_by: str | None = None) -> None:
        """The submitter's delete: an open upload is aborted; a closed one is cancelled
        and purged (``requested_by``: the submitter's user id, if the token names it)."""
        box, upload = self.upload_in_box(box_id, file_id)
        if upload.state in (CANCELLED, FAILED, DELETED):
            # already gone: free the storage again in case an earlier delete died half-way,
            # and ask again for a purge that is not complete (its request may have been lost)
            self.free_storage(upload, upload.cancelled_from or upload.state)
            if upload.deletion_requested is not None and upload.file_deleted_published is None:
                announce_request(
                    self._publisher,
                    upload.id,
                    upload.deletion_requested_by or SUBMITTER,
                    upload.deletion_reason or "",
                )
            return
        if upload.state not in (INIT, INBOX):
            raise errors.upload_state(
                upload.state, "interrogated and registered files are deleted by the archive."
            )
        if box.locked:
            raise errors.box_locked()
        purge = (
            DeletionRequest(self._clock(), requested_by or SUBMITTER, DELETED_BY_SUBMITTER)
            if upload.state == INBOX
            else None  # nothing downstream has heard of an open upload
        )
        refusal = self._move(
            upload, CANCELLED, reason=DELETED_BY_SUBMITTER, require_open_box=True, deletion=purge
        )
        if refusal == BOX_WAS_LOCKED:
            raise errors.box_locked()
        if refusal is not None:
            raise errors.upload_state(refusal, "it changed while it was being deleted.")
        self.free_storage(upload, upload.state)
        if purge is not None:
            announce_request(self._publisher, upload.id, purge.requested_by, purge.reason)

    def free_storage(self, upload: Upload, previous_state: str | None = None) -> None:
        """Release what an upload held in the inbox (idempotent; also for the clean-up and
        the purge). ``previous_state`` is the state it left; None (or ``deleted``): any."""
        bucket = self._policy.inbox_bucket
        if previous_state in (INIT, DELETED, None):
            self._storage.abort_multipart(bucket, upload.object_id, upload.s3_upload_id)
        # the object: of a closed upload, or completed by a close that died or lost a race;
        # and the manifest such a close wrote beside it
        remove_with_manifest(self._storage, bucket, upload.object_id)
