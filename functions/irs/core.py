"""The interrogation room's core: join the two halves of an upload, then work on it in turns.

An inbox object is interrogated once both its S3 notification and its FileUploadReceived
event were seen, in whichever order and however often they arrive. The work runs under a
lease in the object's record (shared/lease.py), so two invocations never work on one file;
an expired lease (a crashed invocation) may be taken over. Streaming itself is in stream.py;
this module decides who works, hands work on, and finishes (success or failure) exactly once
in effect. A file deleted meanwhile (its record became a tombstone, deletion.py) stops the
turn at its next save, and the turn removes what it staged (_buried).

The inbox also holds UCS's part manifests (``manifests/<file id>.json``); their S3
notifications reach this queue too and are dropped: they are no uploads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.irs.deletion import remove_staging
from functions.irs.errors import Rejected, StagingIncomplete
from functions.irs.model import (
    COMPLETING,
    DELETED,
    FAILED,
    FAILING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    WAITING,
    Interrogation,
    InterrogationRepository,
    Invocation,
    Settings,
    StagedPart,
    Upload,
    Workshop,
)
from functions.irs.outcome import failure_payload
from functions.irs.stream import stream
from functions.irs.wire import continuation_body
from shared import lease
from shared.clock import utcnow
from shared.events import FileInterrogationFailure, FileInterrogationSuccess
from shared.lease import Lease, LeaseLost, StaleRecord
from shared.manifest import is_manifest_key
from shared.ports import EventPublisher, KeyStore, MessageSender, ObjectNotFound, ObjectStorage

log = logging.getLogger("fs.irs")


@dataclass(kw_only=True)
class Interrogator:
    storage: ObjectStorage
    keys: KeyStore
    publisher: EventPublisher
    repository: InterrogationRepository
    continuations: MessageSender
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    after_part: Callable[[int], None] | None = None  # tests: observe or interrupt each part

    # ------------------------------------------------------------ entry points

    def object_created(
        self, object_key: str, size: int, remaining_ms: Callable[[], int] | None = None
    ) -> None:
        """The S3 notification of a completed inbox object (duplicates are harmless)."""
        if is_manifest_key(object_key):
            log.info("notification of a part manifest; dropped", extra={"key": object_key})
            return

        def see(item: Interrogation) -> bool:
            if item.object_size is not None:
                return False
            item.object_size = size
            return True

        self._join(object_key, see)
        self._advance(object_key, Invocation(self.settings, remaining_ms))

    def upload_received(
        self, upload: Upload, remaining_ms: Callable[[], int] | None = None
    ) -> None:
        """The submitter's declaration of the same object (duplicates are harmless)."""

        def see(item: Interrogation) -> bool:
            if item.upload is not None:
                return False
            item.upload = upload
            return True

        self._join(upload.object_id, see)
        self._advance(upload.object_id, Invocation(self.settings, remaining_ms))

    def resume(self, object_key: str, remaining_ms: Callable[[], int] | None = None) -> None:
        """A continuation (or a redelivery): carry on from the last checkpoint."""
        self._advance(object_key, Invocation(self.settings, remaining_ms))

    # ------------------------------------------------------------ turns

    def _join(self, object_key: str, see: Callable[[Interrogation], bool]) -> None:
        for _ in range(5):
            item = self.repository.get(object_key) or Interrogation(object_key=object_key)
            if item.state == DELETED:
                log.info("file deleted; message ignored", extra={"inbox_object_id": object_key})
                return
            if item.state in TERMINAL or not see(item):
                return
            try:
                self.repository.save(item)
                return
            except StaleRecord:
                continue
        raise StaleRecord(object_key)  # heavy contention: the redelivery tries again

    def _advance(self, object_key: str, invocation: Invocation) -> None:
        item = self._take_lease(object_key, invocation)
        if item is None:
            return
        try:
            self._turn(item, invocation)
        except LeaseLost:
            if not self._buried(item):
                log.warning("lease lost; another invocation carries on", extra=_ids(item))
        except Exception:
            try:
                buried = self._buried(item)
            except Exception:
                buried = False  # the turn's own error is the one to retry on
            if buried:
                return  # what failed was the file's, and the file is gone
            lease.release(
                self.repository.get,
                self.repository.save,
                object_key,
                invocation.owner,
                ids={"inbox_object_id": object_key},
                logger=log,
            )
            raise

    def _buried(self, item: Interrogation) -> bool:
        """Whether the file was deleted during this turn; if so, remove what the turn may have
        staged after the deletion removed the staging it knew of (a part uploaded meanwhile,
        an object completed meanwhile)."""
        current = self.repository.get(item.object_key)
        if current is None or current.state != DELETED:
            return False
        removed = remove_staging(self.storage, self.repository, self.settings.staging_bucket, item)
        log.info(
            "file deleted during its interrogation; stopped",
            extra={**_ids(item), "removed": ", ".join(removed) or "nothing"},
        )
        return True

    def _still_held(self, item: Interrogation) -> None:
        """LeaseLost if the record changed since this turn saved it (another invocation, or a
        deletion): a cheap read that keeps a deleted file's outcome unpublished."""
        current = self.repository.get(item.object_key)
        if current is None or current.version != item.version:
            raise LeaseLost(item.object_key)

    def _take_lease(self, object_key: str, invocation: Invocation) -> Interrogation | None:
        def read() -> Interrogation | None:
            item = self.repository.get(object_key)
            if item is not None and item.state == DELETED:
                # a turn killed after the deletion removed the staging may have staged a
                # part, its item or the manifest meanwhile: whoever comes later removes it
                remove_staging(self.storage, self.repository, self.settings.staging_bucket, item)
            if item is None or item.state in TERMINAL:
                if item is not None:
                    log.info("already finished; message ignored", extra=_ids(item))
                return None
            if item.state == WAITING and not item.ready:
                return None
            if item.state == WAITING:
                item.state = RUNNING  # saved only with the lease
            return item

        return lease.claim(
            read,
            self.repository.save,
            Lease(invocation.owner, invocation.lease_seconds(), self.clock),
            on_held=lambda item: log.info("another invocation holds the lease", extra=_ids(item)),
        )

    def _turn(self, item: Interrogation, invocation: Invocation) -> None:
        try:
            if item.state == COMPLETING:
                self.finish_success(item)
            elif item.state == FAILING:
                self.finish_failure(item)
            elif not stream(self._workshop(), item, invocation):
                self.hand_on(item)
            elif invocation.time_is_short():
                self.hand_on(item)  # completing 10,000 parts may take minutes: a next turn
            else:
                self.finish_success(item)
        except Rejected as rejected:
            self.fail(item, rejected.reason)

    def _workshop(self) -> Workshop:
        return Workshop(
            storage=self.storage,
            keys=self.keys,
            settings=self.settings,
            save=self.save,
            checkpoint=self.checkpoint,
            repository=self.repository,
            after_part=self.after_part,
        )

    def save(self, item: Interrogation) -> None:
        """Save under the lease (LeaseLost if another invocation saved meanwhile)."""
        lease.save_held(self.repository.save, item)

    def checkpoint(self, item: Interrogation, part: StagedPart) -> None:
        """A staged part's item and the checkpoint counting it, under the lease."""
        lease.save_held(lambda held: self.repository.checkpoint(held, part), item)

    def hand_on(self, item: Interrogation) -> None:
        """Checkpoint is saved; free the lease and queue the rest for a next invocation."""
        lease.clear(item)
        self.save(item)
        self.continuations.send(continuation_body(item.object_key))
        log.info("handed on to a next invocation", extra={**_ids(item), "parts": item.parts_staged})

    # ------------------------------------------------------------ outcomes

    def fail(self, item: Interrogation, reason: str) -> None:
        item.state = FAILING
        item.reason = reason
        item.outcome = failure_payload(item, reason)
        item.hash_state = item.parts_hash_state = None
        self.save(item)
        log.info("upload rejected", extra={**_ids(item), "reason": reason})
        self.finish_failure(item)

    def finish_failure(self, item: Interrogation) -> None:
        """Leave nothing behind: no staging upload (every one under the key, recorded or
        not), no part items; then tell the world (EKSS forgets the file's secret when it
        hears of the failure: only that flow deletes secrets)."""
        remove_staging(self.storage, self.repository, self.settings.staging_bucket, item)
        assert item.outcome is not None and item.upload is not None
        self._still_held(item)
        self.publisher.publish(FileInterrogationFailure.model_validate(item.outcome))
        item.state = FAILED
        lease.clear(item)
        self.save(item)

    def finish_success(self, item: Interrogation) -> None:
        """Drop the part items (the staged manifest holds their checksums), complete the
        staged object (once), check it, then publish the success."""
        assert item.outcome is not None and item.upload is not None
        assert item.staged_object_id and item.staging_upload_id
        # the manifest holds the checksums now; between the publish and the save below
        # nothing may fail that a redelivery (after IFRS took the staged object) cannot redo
        self.repository.delete_parts(item.object_key)
        bucket, key = self.settings.staging_bucket, item.staged_object_id
        try:
            listed = self.storage.list_parts(bucket, key, item.staging_upload_id)
        except ObjectNotFound:
            listed = None  # completed by an earlier attempt
        if listed is not None:
            listed.sort(key=lambda part: part.number)
            if [part.number for part in listed] != list(range(1, item.parts_staged + 1)):
                raise StagingIncomplete(f"staging upload of {key} lacks parts")
            with contextlib.suppress(ObjectNotFound):  # completed meanwhile
                self.storage.complete_multipart(
                    bucket,
                    key,
                    item.staging_upload_id,
                    [(part.number, part.etag) for part in listed],
                )
        info = self.storage.head(bucket, key)
        if info is None or info.size != item.outcome["encrypted_size"]:
            raise StagingIncomplete(f"staged object {key} is missing or has the wrong size")
        self._still_held(item)
        self.publisher.publish(FileInterrogationSuccess.model_validate(item.outcome))
        item.state = SUCCEEDED
        lease.clear(item)
        self.save(item)
        log.info("upload interrogated", extra={**_ids(item), "parts": item.parts_staged})


def _ids(item: Interrogation) -> dict[str, str | None]:
    return {
        "inbox_object_id": item.object_key,
        "file_id": item.upload.file_id if item.upload else None,
        "state": item.state,
    }
