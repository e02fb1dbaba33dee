"""The file registry, staging half: a registered file copied to the outbox for download.

On NonStagedFileRequested, IFRS copies the permanent object to the outbox under the
requested id and reports FileStagedForDownload. A copy that is already there with the
right size is reported without copying again, so duplicates and redeliveries cost one
HEAD. Only the configured outbox is ever written: a request naming another bucket is
refused, whatever the event says.

A deleted file is never staged (docs/deletion.md): a request for it is dropped, and a copy
that was under way when the tombstone was written is removed again before anything is
reported, since the deletion may have looked into the outbox before the copy landed.
"""

from __future__ import annotations

import logging

from functions.ifrs.errors import NotYetRegistered, OutboxCopyFailed
from functions.ifrs.model import REGISTERED, FileRepository
from shared.events import FileStagedForDownload, NonStagedFileRequested
from shared.ports import EventPublisher, ObjectStorage

log = logging.getLogger("fs.ifrs")


class Stager:
    def __init__(
        self,
        *,
        storage: ObjectStorage,
        publisher: EventPublisher,
        repository: FileRepository,
        outbox_bucket: str,
    ) -> None:
        self.storage = storage
        self.publisher = publisher
        self.repository = repository
        self.outbox_bucket = outbox_bucket

    def stage(self, request: NonStagedFileRequested) -> bool:
        """Stage the file; True if it is now in the outbox, False if the request was refused."""
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
            self.storage.copy(
                item.bucket, item.object_id, self.outbox_bucket, request.target_object_id
            )
            staged = self.storage.head(self.outbox_bucket, request.target_object_id)
            if staged is None or staged.size != item.encrypted_size:
                raise OutboxCopyFailed(
                    f"file {request.file_id}: the outbox copy has the wrong size"
                )
            log.info("copied to the outbox", extra=ids)
        else:
            log.info("already in the outbox; reported without copying", extra=ids)
        if self._deleted_meanwhile(request.file_id):
            self.storage.delete(self.outbox_bucket, request.target_object_id)
            log.warning("file deleted while it was staged; outbox copy removed", extra=ids)
            return False
        self.publisher.publish(FileStagedForDownload(**request.model_dump()))
        return True

    def _deleted_meanwhile(self, file_id: str) -> bool:
        """Whether the file's tombstone was written since the request was checked."""
        current = self.repository.get(file_id)
        return current is None or current.is_tombstone
