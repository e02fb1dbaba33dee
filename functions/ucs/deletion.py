"""The purge of a file, coordinated by UCS: the one service that knows every file id.

UCS records the request on the upload (who asked, when, why) with the move to ``deleted``
(or, for a submitter, ``cancelled``) in one conditional write, frees the inbox, and
publishes FileDeletionRequested. Every holder (``shared.resources.deletion_holders``)
answers FileDeletionConfirmed; UCS records each confirmation once, and when all holders
have confirmed it publishes FileDeleted and records that it did (docs/deletion.md).

Delivery is at least once and in any order: a repeated purge publishes the request again
until the purge is complete (a lost request is recovered by asking again), a duplicate
confirmation changes nothing, and a crash between publishing FileDeleted and recording it
publishes it again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

from functions.ucs import errors
from functions.ucs.errors import StaleState
from functions.ucs.model import DELETED, DeletionRequest, UcsRepository, Upload
from shared.events import FileDeleted, FileDeletionConfirmed, FileDeletionRequested
from shared.ports import EventPublisher
from shared.resources import deletion_holders

if TYPE_CHECKING:  # the controller imports this module for announce_request
    from functions.ucs.core import UploadController

log = logging.getLogger("fs.ucs")

OPERATOR: Final = "operator"
SUBMITTER: Final = "submitter"  # who asked, when the work order token names no user
DELETED_BY_SUBMITTER: Final = "deleted by the submitter"
REPLACED: Final = "replaced by a new upload"
# what the submitter's listing says of a purged upload (the operator's reason stays internal)
PURGED: Final = "deleted by the archive"
ATTEMPTS = 5


def announce_request(
    publisher: EventPublisher, file_id: str, requested_by: str, reason: str
) -> None:
    """Publish FileDeletionRequested for a purge recorded on the upload (and log it)."""
    log.info(
        "file deletion requested",
        extra={"file_id": file_id, "requested_by": requested_by, "reason": reason},
    )
    publisher.publish(
        FileDeletionRequested(file_id=file_id, requested_by=requested_by, reason=reason)
    )


def awaited(upload: Upload, holders: tuple[str, ...]) -> list[str]:
    """The holders that have not yet confirmed the upload's purge (sorted)."""
    return sorted(set(holders) - set(upload.deletion_confirmations))


class DeletionCoordinator:
    def __init__(
        self,
        repository: UcsRepository,
        controller: UploadController,
        publisher: EventPublisher,
        clock: Callable[[], datetime],
        holders: tuple[str, ...] | None = None,
    ) -> None:
        self._repository = repository
        self._controller = controller
        self._publisher = publisher
        self._clock = clock
        self.holders = holders if holders is not None else deletion_holders()

    def purge(self, file_id: str, reason: str = "") -> tuple[Upload, bool]:
        """The operator's purge: the upload as it is now, and whether this call recorded
        the request (False: it was requested before, and is published again unless done)."""
        upload = self._controller.find_upload(file_id)
        recorded = False
        for _ in range(ATTEMPTS):
            if upload.deletion_requested is not None:
                break
            request = DeletionRequest(self._clock(), OPERATOR, reason)
            try:
                self._repository.transition(
                    upload, DELETED, now=request.requested, reason=PURGED, deletion=request
                )
            except StaleState:  # moved or purged meanwhile: look again
                upload = self._controller.find_upload(file_id)
                continue
            recorded = True
            break
        else:
            raise errors.concurrent_change()
        self._controller.free_storage(upload)  # whatever state it left: abort and delete
        upload = self._finish(self._controller.find_upload(file_id))
        if upload.file_deleted_published is None:
            announce_request(
                self._publisher,
                upload.id,
                upload.deletion_requested_by or OPERATOR,
                upload.deletion_reason or "",
            )
        return upload, recorded

    def confirmed(self, event: FileDeletionConfirmed) -> None:
        """Record one holder's confirmation; publish FileDeleted once all have confirmed."""
        facts = {"file_id": event.file_id, "service": event.service}
        for _ in range(ATTEMPTS):
            upload = self._repository.get_upload(event.file_id)
            if upload is None or upload.deletion_requested is None:
                log.warning("deletion confirmed for a file nobody asked to delete", extra=facts)
                return
            if event.service not in self.holders:
                log.warning("deletion confirmed by a service that holds no files", extra=facts)
                return
            if event.service in upload.deletion_confirmations:
                break  # a duplicate: nothing changes (FileDeleted goes out if it had not)
            try:
                self._repository.record_deletion_confirmation(
                    upload.id, event.service, event.removed
                )
            except StaleState:
                continue  # another confirmation was recorded meanwhile
            log.info(
                "deletion confirmed",
                extra={**facts, "removed": ", ".join(event.removed) or "nothing"},
            )
            upload = self._repository.get_upload(event.file_id) or upload
            break
        else:
            raise errors.concurrent_change()  # redelivered: the next attempt looks again
        self._finish(upload)

    def _finish(self, upload: Upload) -> Upload:
        """Publish FileDeleted if every holder confirmed and it was not published yet."""
        if upload.deletion_requested is None or upload.file_deleted_published is not None:
            return upload
        if awaited(upload, self.holders):
            return upload
        event = FileDeleted(
            file_id=upload.id,
            requested_by=upload.deletion_requested_by or OPERATOR,
            confirmed_by=sorted(self.holders),
        )
        self._publisher.publish(event)
        now = self._clock()
        self._repository.mark_file_deleted(upload.id, now)
        log.info(
            "file deleted everywhere",
            extra={"file_id": upload.id, "requested_by": event.requested_by},
        )
        return dataclasses.replace(upload, file_deleted_published=now)
