"""The file registry, registration half: from staging to permanent storage, once.

On FileInterrogationSuccess the registry picks the permanent object id and records it
before any copy, then (under a lease, shared/lease.py, so a concurrent duplicate waits its
turn) copies the staged object server-side, checks the size, publishes
FileInternallyRegistered, marks the file registered and removes the staged object. Every
step can be redone: a redelivery after a crash copies only if the permanent object is not
there yet, and finishes what is left.

Delivery is at least once: after a crash between publishing and recording, the event is
published again. Its consumers are idempotent (keyed by file id), as for every event here.

A deleted file's tombstone wins (docs/deletion.md): a success for it is refused and the
staged object it names removed; a registration under way when the tombstone is written
finds out before it publishes or when its save loses (LeaseLost), and removes its copy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.ifrs.errors import RegistrationError
from functions.ifrs.model import COPYING, LEASE_S, REGISTERED, FileRepository, Registration
from shared import lease
from shared.clock import utcnow
from shared.events import FileInternallyRegistered, FileInterrogationSuccess
from shared.lease import Lease, LeaseLost
from shared.ports import EventPublisher, ObjectStorage

log = logging.getLogger("fs.ifrs")


@dataclass(kw_only=True)
class Registry:
    storage: ObjectStorage
    publisher: EventPublisher
    repository: FileRepository
    staging_bucket: str
    permanent_bucket: str
    lease_s: float = LEASE_S
    clock: Callable[[], datetime] = utcnow
    after_copy: Callable[[Registration], None] | None = None  # tests: interrupt after copy

    def register(self, event: FileInterrogationSuccess) -> None:
        """Register the interrogated file (idempotent; duplicates and redeliveries welcome)."""
        if event.staging_bucket != self.staging_bucket:
            raise RegistrationError(
                f"file {event.file_id}: staged in an unknown bucket; not copied"
            )
        owner = str(uuid.uuid4())
        item = self._claim(event, owner)
        if item is None:
            return
        try:
            self._register(item)
        except LeaseLost:
            if not self._undo_if_deleted(item):
                log.warning("lease lost; another invocation carries on", extra=_ids(item))
        except Exception:
            if self._undo_if_deleted(item):
                return  # e.g. the staged object went with the file: nothing left to retry
            lease.release(
                self.repository.get,
                self.repository.save,
                item.file_id,
                owner,
                ids={"file_id": item.file_id},
                logger=log,
            )
            raise

    # ------------------------------------------------------------ steps

    def _claim(self, event: FileInterrogationSuccess, owner: str) -> Registration | None:
        def read() -> Registration | None:
            item = self.repository.get(event.file_id)
            if item is None:
                return Registration(
                    file_id=event.file_id,
                    object_id=str(uuid.uuid4()),
                    bucket=self.permanent_bucket,
                    interrogation=event.model_dump(),
                    staged_object_id=event.staged_object_id,
                )
            if item.is_tombstone:
                # a late success for a deleted file: what it brought goes too (the bucket
                # is the configured staging bucket, register() checked it)
                self.storage.delete(self.staging_bucket, event.staged_object_id)
                log.warning(
                    "success for a deleted file refused; staged object removed", extra=_ids(item)
                )
                return None
            if item.staged_object_id != event.staged_object_id:
                log.warning("event for another staged object of a known file ignored")
                return None
            if item.state == REGISTERED:
                # a crash may have come between recording and removing the staged copy
                self.storage.delete(self.staging_bucket, item.staged_object_id)
                log.info("already registered; duplicate ignored", extra=_ids(item))
                return None
            return item

        return lease.claim(
            read,
            self.repository.save,
            Lease(owner, self.lease_s, self.clock),
            on_held=lambda item: log.info(
                "another invocation is registering this file", extra=_ids(item)
            ),
        )

    def _register(self, item: Registration) -> None:
        assert item.state == COPYING
        permanent = self.storage.head(item.bucket, item.object_id)
        if permanent is None or permanent.size != item.encrypted_size:
            staged = self.storage.head(self.staging_bucket, item.staged_object_id)
            if staged is None:
                raise RegistrationError(f"file {item.file_id}: the staged object is missing")
            if staged.size != item.encrypted_size:
                raise RegistrationError(
                    f"file {item.file_id}: the staged object has {staged.size} bytes, "
                    f"the event says {item.encrypted_size}"
                )
            self.storage.copy(
                self.staging_bucket, item.staged_object_id, item.bucket, item.object_id
            )
            permanent = self.storage.head(item.bucket, item.object_id)
            if permanent is None or permanent.size != item.encrypted_size:
                raise RegistrationError(f"file {item.file_id}: the copy has the wrong size")
            log.info("copied to permanent storage", extra=_ids(item))
        if self.after_copy is not None:
            self.after_copy(item)
        self._not_deleted(item)
        self.publisher.publish(
            FileInternallyRegistered(
                **item.interrogation, object_id=item.object_id, bucket=item.bucket
            )
        )
        item.state = REGISTERED
        item.registered = self.clock()
        lease.clear(item)
        self._save(item)
        self.storage.delete(self.staging_bucket, item.staged_object_id)
        log.info("file registered", extra=_ids(item))

    def _save(self, item: Registration) -> None:
        lease.save_held(self.repository.save, item)

    def _not_deleted(self, item: Registration) -> None:
        """Before telling anyone of the file: a record saved since the claim (a tombstone,
        say) ends the turn as a lost save would (LeaseLost), so that no registration of a
        deleted file is published; a tombstone written after this read loses the save."""
        current = self.repository.get(item.file_id)
        if current is None or current.version != item.version:
            raise LeaseLost(item.file_id)

    def _undo_if_deleted(self, item: Registration) -> bool:
        """After a lost save: if the file was deleted meanwhile (read again to be sure), the
        copy this turn made and the staged object are removed; True if so. Otherwise the
        winner is another invocation, which carries on with them."""
        current = self.repository.get(item.file_id)
        if current is None or not current.is_tombstone:
            return False
        assert item.object_id is not None
        self.storage.delete(self.permanent_bucket, item.object_id)
        if item.staged_object_id is not None:
            self.storage.delete(self.staging_bucket, item.staged_object_id)
        log.warning("file deleted during its registration; its copy removed", extra=_ids(item))
        return True


def _ids(item: Registration) -> dict[str, str]:
    return {"file_id": item.file_id, "object_id": item.object_id, "state": item.state}
