"""DCS's part of a file's deletion (docs/deletion.md): tombstone, remove, confirm.

The DRS object becomes a tombstone first, whatever state it was in (or is created as one,
when the deletion overtook the registration): from then on every route answers 404, a
late registration is refused and a late staged copy is removed (core.py). Only then the
outbox copy and every envelope kept for the file are deleted: no envelope can be kept
after the tombstone (the repository stores envelopes on condition that the object is
live), so the envelopes recorded on the tombstone are all there will ever be. A
redelivered request does all of it again and confirms again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from functions.dcs.model import DrsRepository
from shared.clock import utcnow
from shared.deletion import confirm
from shared.events import FileDeletionConfirmed, FileDeletionRequested
from shared.ports import EventPublisher, ObjectStorage
from shared.storage import delete_if_present

log = logging.getLogger("fs.dcs")

SERVICE = "dcs"


class DeletionHandler:
    """Consumes FileDeletionRequested for DCS: idempotent, in any order of events."""

    def __init__(
        self,
        *,
        repository: DrsRepository,
        storage: ObjectStorage,
        publisher: EventPublisher,
        outbox_bucket: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.repository = repository
        self.storage = storage
        self.publisher = publisher
        self.outbox_bucket = outbox_bucket
        self.clock = clock or utcnow

    def on_deletion_requested(self, request: FileDeletionRequested) -> FileDeletionConfirmed:
        """Tombstone the file's object, delete its outbox copy and envelopes, confirm."""
        before = self.repository.tombstone(request.file_id, request.requested_by, self.clock())
        removed: list[str] = []
        # the tombstone keeps the outbox key: a redelivery removes a copy that came late
        object_id = before.object_id if before is not None else None
        if object_id is not None and delete_if_present(self.storage, self.outbox_bucket, object_id):
            removed.append("outbox copy")
        envelopes = self.repository.drop_envelopes(request.file_id)
        if envelopes:
            removed.append(f"{envelopes} envelope{'s' if envelopes != 1 else ''}")
        if before is not None and not before.deleted:
            removed.append("download record")
        return confirm(self.publisher, SERVICE, request, removed)
