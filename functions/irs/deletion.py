"""IRS's part of a file's deletion (docs/deletion.md): a tombstone first, then the staging.

The interrogation record of the file (keyed by the inbox object key, which is the file id)
becomes a tombstone in state DELETED, whatever state it was in and whoever held its lease:
the deletion does not wait for a lease, it wins a versioned read-modify-write. From then on
the Interrogator ignores the file (DELETED is terminal), a running invocation loses its
next save and removes what it staged itself (core.Interrogator._buried), and a late S3
notification or FileUploadReceived finds the tombstone and is dropped. Then the staging
multipart upload is aborted, the staged object and its part manifest deleted, the part
items removed (all idempotent), and the deletion confirmed with what was removed. A
redelivered request runs the removal again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from functions.irs.model import DELETED, Interrogation, InterrogationRepository, Settings
from shared.deletion import bury, confirm
from shared.events import FileDeletionConfirmed, FileDeletionRequested
from shared.manifest import manifest_key
from shared.ports import EventPublisher, ObjectStorage
from shared.storage import abort_open_uploads, delete_if_present

log = logging.getLogger("fs.irs")

SERVICE = "irs"
STAGING_UPLOAD = "staging multipart upload"
STAGED_OBJECT = "staged object"
STAGED_MANIFEST = "staged part manifest"
PART_ITEMS = "staged part records"
RECORD = "interrogation record"
ATTEMPTS = 10  # a streaming invocation saves once a part: the tombstone wins within a few


@dataclass(kw_only=True)
class Deletion:
    """Consumes FileDeletionRequested on IRS's queue."""

    storage: ObjectStorage
    publisher: EventPublisher
    repository: InterrogationRepository
    settings: Settings

    def file_deletion_requested(self, request: FileDeletionRequested) -> FileDeletionConfirmed:
        """Tombstone, remove the staging, confirm (idempotent: a repeat confirms again)."""
        tomb, had_record = self._bury(request)
        removed = remove_staging(self.storage, self.repository, self.settings.staging_bucket, tomb)
        if had_record:
            removed.append(RECORD)
        return confirm(self.publisher, SERVICE, request, removed)

    def _bury(self, request: FileDeletionRequested) -> tuple[Interrogation, bool]:
        """The tombstone, written (or found); whether a live record was replaced by it."""
        tomb, had_record = bury(
            lambda: self.repository.get(request.file_id),
            self.repository.save,
            buried=lambda item: item.state == DELETED,
            tombstone=lambda item: tombstone(request.file_id, item, request.requested_by),
            attempts=ATTEMPTS,
        )
        log.info("file deleted; tombstone in place", extra={"inbox_object_id": request.file_id})
        return tomb, had_record


def tombstone(object_key: str, item: Interrogation | None, requested_by: str) -> Interrogation:
    """What is kept of a deleted file: its key, who asked, and what the clean-up needs (the
    staged object and its multipart upload); no declaration, secret, hash state or outcome.
    The lease is dropped with the rest, so its holder's next save fails."""
    return Interrogation(
        object_key=object_key,
        version=item.version if item is not None else None,
        state=DELETED,
        staged_object_id=item.staged_object_id if item is not None else None,
        staging_upload_id=item.staging_upload_id if item is not None else None,
        deleted_by=requested_by,
    )


def remove_staging(
    storage: ObjectStorage, repository: InterrogationRepository, bucket: str, item: Interrogation
) -> list[str]:
    """Abort the item's staging multipart upload, delete its staged object and manifest and
    its part items, if any (all idempotent); what was actually found and removed, in words."""
    removed: list[str] = []
    key = item.staged_object_id
    if key is not None:
        # every upload under the key: the recorded one, and one a killed turn opened
        # unrecorded
        if abort_open_uploads(storage, bucket, key):
            removed.append(STAGING_UPLOAD)
        if delete_if_present(storage, bucket, key):
            removed.append(STAGED_OBJECT)
        if delete_if_present(storage, bucket, manifest_key(key)):
            removed.append(STAGED_MANIFEST)
    if repository.delete_parts(item.object_key):
        removed.append(PART_ITEMS)
    return removed
