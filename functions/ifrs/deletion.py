"""IFRS's part of a file's purge (docs/deletion.md): tombstone first, then the objects.

FileDeletionRequested arrives at least once and in any order with the file's own events.
The registration record becomes the file's tombstone whatever its state and whoever holds
its lease (a versioned read-modify-write, retried when another save came first); if there
is no record yet, the tombstone is created, so that a FileInterrogationSuccess that comes
later is refused. Only then are the permanent object, its outbox copy (IFRS writes it under
the permanent object's id) and the staged object removed, each only if it is there, and
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

from functions.ifrs.model import FileRepository, Registration
from shared.clock import utcnow
from shared.deletion import bury, confirm
from shared.events import FileDeletionConfirmed, FileDeletionRequested
from shared.ports import EventPublisher, ObjectStorage
from shared.storage import abort_open_uploads, delete_if_present

log = logging.getLogger("fs.ifrs")

SERVICE = "ifrs"


@dataclass(kw_only=True)
class FileDeletion:
    storage: ObjectStorage
    publisher: EventPublisher
    repository: FileRepository
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
        if tombstone.staged_object_id is not None and delete_if_present(
            self.storage, self.staging_bucket, tombstone.staged_object_id
        ):
            removed.append("staged object")
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
        """What IFRS itself wrote under the permanent object's id: the permanent object, the
        outbox copy, and any multipart copy of either left open (a killed invocation's, or
        one still running, which then fails and finds the tombstone on its retry)."""
        for bucket, what in (
            (self.permanent_bucket, "permanent object"),
            (self.outbox_bucket, "outbox copy"),
        ):
            if delete_if_present(self.storage, bucket, object_id):
                removed.append(what)
            if abort_open_uploads(self.storage, bucket, object_id):
                removed.append(f"open multipart {what}")
