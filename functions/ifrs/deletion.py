"""IFRS's part of a file's purge (docs/deletion.md): tombstone first, then the objects.

FileDeletionRequested arrives at least once and in any order with the file's own events.
The registration record becomes the file's tombstone whatever its state and whoever holds
its lease (a versioned read-modify-write, retried when another save came first); if there
is no record yet, the tombstone is created, so that a FileInterrogationSuccess that comes
later is refused. Only then are the permanent object and its part manifest, its outbox copy
(IFRS writes it under the permanent object's id) with the record of a copy to it under way,
and the staged object and its manifest removed, each only if it is there, and
FileDeletionConfirmed says what went. A redelivered request removes again (what a crash
left behind) and confirms again.

Work under way when the tombstone is written undoes what it made itself: the Registry's
copy (core.py) and the Stager's outbox copy (staging.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.ifrs.model import CopyRepository, FileRepository, Registration
from shared.clock import utcnow
from shared.deletion import bury, confirm
from shared.events import FileDeletionConfirmed, FileDeletionRequested
from shared.manifest import manifest_key
from shared.ports import EventPublisher, ObjectStorage
from shared.storage import abort_open_uploads, delete_if_present

log = logging.getLogger("fs.ifrs")

SERVICE = "ifrs"


@dataclass(kw_only=True)
class FileDeletion:
    storage: ObjectStorage
    publisher: EventPublisher
    repository: FileRepository
    copies: CopyRepository
    staging_bucket: str
    permanent_bucket: str
    outbox_bucket: str
    clock: Callable[[], datetime] = utcnow

    def on_requested(self, request: FileDeletionRequested) -> FileDeletionConfirmed:
        """Tombstone, remove, confirm (idempotent: a repeat removes what is left)."""
        tombstone, was_record = self._tombstone(request)
        removed: list[str] = []
        if tombstone.object_id is not None:
            self._remove_written(tombstone.object_id, removed)
        if tombstone.staged_object_id is not None:
            staged = tombstone.staged_object_id
            if delete_if_present(self.storage, self.staging_bucket, staged):
                removed.append("staged object")
            if delete_if_present(self.storage, self.staging_bucket, manifest_key(staged)):
                removed.append("staged manifest")
        if was_record:
            removed.append("registration record")
        return confirm(self.publisher, SERVICE, request, removed)

    # ------------------------------------------------------------ steps

    def _tombstone(self, request: FileDeletionRequested) -> tuple[Registration, bool]:
        """The file's tombstone, written now if it was not yet; and whether a registration
        record became it (False: the tombstone came first, or was there already)."""

        def tombstone(current: Registration | None) -> Registration:
            item = current or Registration(
                file_id=request.file_id, object_id=None, bucket=None, interrogation=None
            )
            item.tombstone(request.requested_by, self.clock())
            return item

        item, was_record = bury(
            lambda: self.repository.get(request.file_id),
            self.repository.save,
            buried=lambda current: current.is_tombstone,
            tombstone=tombstone,
        )
        log.info(
            "tombstone in place",
            extra={"file_id": item.file_id, "requested_by": request.requested_by},
        )
        return item, was_record

    def _remove_written(self, object_id: str, removed: list[str]) -> None:
        """What IFRS itself wrote under the permanent object's id: the permanent object and
        its part manifest, the outbox copy and the record of a copy to it under way, and any
        multipart copy of either left open (a killed invocation's, or one still running,
        which then fails or loses its next checkpoint and finds the tombstone)."""
        for key, bucket, what, copied in (
            (object_id, self.permanent_bucket, "permanent object", True),
            (manifest_key(object_id), self.permanent_bucket, "permanent manifest", False),
            (object_id, self.outbox_bucket, "outbox copy", True),
        ):
            if delete_if_present(self.storage, bucket, key):
                removed.append(what)
            if copied and abort_open_uploads(self.storage, bucket, key):
                removed.append(f"open multipart {what}")
        if self.copies.delete(object_id):
            removed.append("outbox copy record")
