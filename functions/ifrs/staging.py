"""The file registry, staging half: a registered file copied to the outbox for download.

On NonStagedFileRequested, IFRS copies the permanent object to the outbox under the
requested id and reports FileStagedForDownload. A copy that is already there with the
right size is reported without copying again, so duplicates and redeliveries cost one
HEAD. Only the configured outbox is ever written: a request naming another bucket is
refused, whatever the event says. The outbox gets no part manifest: DCS serves ranges.

The copy itself is the resumable one of copier.py, under a lease and with its checkpoint in
an OutboxCopy record of IFRS's copies table, keyed by the destination; a copy longer than
one invocation is handed on by sending the same request again to IFRS's own queue. The
record goes once the copy is reported.

A deleted file is never staged (docs/deletion.md): a request for it is dropped, and a copy
under way when the tombstone is written stops at its next checkpoint (the file's record is
read before each one) and removes what it made; a copy that lands in between is removed
again before anything is reported, since the deletion may have looked into the outbox
before the copy landed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.ifrs.copier import Copier, CopyJob
from functions.ifrs.errors import NotYetRegistered, OutboxCopyFailed
from functions.ifrs.model import (
    REGISTERED,
    CopyRepository,
    FileRepository,
    Invocation,
    OutboxCopy,
    Registration,
)
from shared import lease
from shared.clock import utcnow
from shared.events import FileStagedForDownload, NonStagedFileRequested, envelope
from shared.lease import Lease, LeaseLost
from shared.ports import EventPublisher, MessageSender, ObjectStorage
from shared.storage import abort_open_uploads

log = logging.getLogger("fs.ifrs")


@dataclass(kw_only=True)
class Stager:
    storage: ObjectStorage
    publisher: EventPublisher
    repository: FileRepository
    copies: CopyRepository
    outbox_bucket: str
    copier: Copier
    continuations: MessageSender  # IFRS's own queue: the rest of a copy, for a next turn
    clock: Callable[[], datetime] = utcnow

    def stage(
        self, request: NonStagedFileRequested, remaining_ms: Callable[[], int] | None = None
    ) -> bool:
        """Stage the file; True if it is now in the outbox and reported, False if the
        request was refused, another invocation copies it, or the rest was handed on."""
        ids = {"file_id": request.file_id, "object_id": request.target_object_id}
        if request.target_bucket != self.outbox_bucket:
            log.warning("staging request for a bucket that is not the outbox refused", extra=ids)
            return False
        item = self.repository.get(request.file_id)
        if item is None:
            log.warning("staging request for an unknown file dropped", extra=ids)
            return False
        if item.is_tombstone:
            log.warning("staging request for a deleted file dropped", extra=ids)
            return False
        if item.state != REGISTERED or item.interrogation is None or item.object_id is None:
            raise NotYetRegistered(f"file {request.file_id} is still being registered")
        if item.interrogation.get("decrypted_sha256") != request.decrypted_sha256:
            log.warning("staging request with another checksum than registered dropped", extra=ids)
            return False
        staged = self.storage.head(self.outbox_bucket, request.target_object_id)
        if staged is None or staged.size != item.encrypted_size:
            if not self._copy(request, item, Invocation(self.copier.settings, remaining_ms)):
                return False
            log.info("copied to the outbox", extra=ids)
        else:
            log.info("already in the outbox; reported without copying", extra=ids)
        if self._deleted_meanwhile(request.file_id):
            self._remove(request.target_object_id)
            log.warning("file deleted while it was staged; outbox copy removed", extra=ids)
            return False
        self.publisher.publish(FileStagedForDownload(**request.model_dump()))
        self.copies.delete(request.target_object_id)  # a killed turn's, if any
        return True

    # ------------------------------------------------------------ the copy

    def _copy(
        self, request: NonStagedFileRequested, item: Registration, invocation: Invocation
    ) -> bool:
        """Copy on under the lease of the destination's record; True once complete."""
        target = request.target_object_id
        progress = self._claim(request, invocation)
        if progress is None:
            return False
        assert item.bucket is not None and item.object_id is not None

        def checkpoint() -> None:
            if self._deleted_meanwhile(request.file_id):
                raise LeaseLost(request.file_id)
            lease.save_held(self.copies.save, progress)

        job = CopyJob(
            src_bucket=item.bucket,
            src_key=item.object_id,
            dst_bucket=self.outbox_bucket,
            dst_key=target,
            size=item.encrypted_size,
        )
        try:
            done = self.copier.copy(job, progress, checkpoint, invocation)
        except LeaseLost:
            if self._deleted_meanwhile(request.file_id):
                self._remove(target)
                log.warning("file deleted while it was staged; copy removed", extra=_ids(request))
            else:
                log.warning("lease lost; another invocation carries on", extra=_ids(request))
            return False
        except Exception:
            if self._deleted_meanwhile(request.file_id):
                self._remove(target)
                return False
            lease.release(
                self.copies.get,
                self.copies.save,
                target,
                invocation.owner,
                ids=_ids(request),
                logger=log,
            )
            raise
        if not done:
            lease.clear(progress)
            lease.save_held(self.copies.save, progress)
            self.continuations.send(envelope(request).model_dump_json())
            log.info(
                "outbox copy handed on to a next invocation",
                extra={**_ids(request), "parts_done": str(progress.copy_parts_done)},
            )
            return False
        staged = self.storage.head(self.outbox_bucket, target)
        if staged is None or staged.size != item.encrypted_size:
            raise OutboxCopyFailed(f"file {request.file_id}: the outbox copy has the wrong size")
        return True

    def _claim(self, request: NonStagedFileRequested, invocation: Invocation) -> OutboxCopy | None:
        target = request.target_object_id

        def read() -> OutboxCopy | None:
            found = self.copies.get(target)
            if found is None:
                return OutboxCopy(target_object_id=target, file_id=request.file_id)
            if found.file_id != request.file_id:
                log.warning("outbox key copied for another file; request dropped")
                return None
            return found

        return lease.claim(
            read,
            self.copies.save,
            Lease(invocation.owner, invocation.lease_seconds(), self.clock),
            on_held=lambda _: log.info(
                "another invocation copies this file to the outbox", extra=_ids(request)
            ),
        )

    def _remove(self, target: str) -> None:
        """What this staging made: the outbox copy, any upload open under it, its record."""
        self.storage.delete(self.outbox_bucket, target)
        abort_open_uploads(self.storage, self.outbox_bucket, target)
        self.copies.delete(target)

    def _deleted_meanwhile(self, file_id: str) -> bool:
        """Whether the file's tombstone was written since the request was checked."""
        current = self.repository.get(file_id)
        return current is None or current.is_tombstone


def _ids(request: NonStagedFileRequested) -> dict[str, str]:
    return {"file_id": request.file_id, "object_id": request.target_object_id}
