"""The file registry, registration half: from staging to permanent storage, once.

On FileInterrogationSuccess the registry picks the permanent object id and records it
before any copy, then (under a lease, shared/lease.py, so a concurrent duplicate waits its
turn) copies the staged object server-side in parallel parts with a checkpoint in the
record after each batch (copier.py), copies the staged object's part manifest beside the
permanent object (shared/manifest.py), publishes FileInternallyRegistered naming that
manifest, marks the file registered and removes the staged object and its manifest. A copy
longer than one invocation is handed on: the checkpoint is saved, the lease freed, and the
same event sent again to IFRS's own queue, whose next delivery resumes it. Every step can be
redone: a redelivery after a crash resumes the copy from its checkpoint (or finds it
complete) and finishes what is left.

Delivery is at least once: after a crash between publishing and recording, the event is
published again. Its consumers are idempotent (keyed by file id), as for every event here.

A deleted file's tombstone wins (docs/deletion.md): a success for it is refused and the
staged object it names removed; a registration under way when the tombstone is written
finds out at its next checkpoint or before it publishes (LeaseLost), and removes its copy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from functions.ifrs.copier import Copier, CopyJob
from functions.ifrs.errors import RegistrationError
from functions.ifrs.model import COPYING, REGISTERED, FileRepository, Invocation, Registration
from shared import lease
from shared.clock import utcnow
from shared.crypt.checksums import multipart_etag
from shared.events import FileInternallyRegistered, FileInterrogationSuccess, envelope
from shared.lease import Lease, LeaseLost
from shared.manifest import (
    ManifestDamaged,
    ManifestRef,
    PartsManifest,
    manifest_key,
    read_manifest,
    remove_with_manifest,
    write_manifest,
)
from shared.ports import EventPublisher, MessageSender, ObjectNotFound, ObjectStorage
from shared.storage import abort_open_uploads

log = logging.getLogger("fs.ifrs")


@dataclass(kw_only=True)
class Registry:
    storage: ObjectStorage
    publisher: EventPublisher
    repository: FileRepository
    staging_bucket: str
    permanent_bucket: str
    copier: Copier
    continuations: MessageSender  # IFRS's own queue: the rest of a copy, for a next turn
    clock: Callable[[], datetime] = utcnow
    after_copy: Callable[[Registration], None] | None = None  # tests: interrupt after copy

    def register(
        self, event: FileInterrogationSuccess, remaining_ms: Callable[[], int] | None = None
    ) -> None:
        """Register the interrogated file, or copy on and hand the rest on (idempotent;
        duplicates and redeliveries welcome). ``remaining_ms``: the Lambda's time left."""
        if event.staging_bucket != self.staging_bucket:
            raise RegistrationError(
                f"file {event.file_id}: staged in an unknown bucket; not copied"
            )
        invocation = Invocation(self.copier.settings, remaining_ms)
        item = self._claim(event, invocation)
        if item is None:
            return
        try:
            self._register(item, invocation)
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
                invocation.owner,
                ids={"file_id": item.file_id},
                logger=log,
            )
            raise

    # ------------------------------------------------------------ steps

    def _claim(
        self, event: FileInterrogationSuccess, invocation: Invocation
    ) -> Registration | None:
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
                # and what a turn killed after the deletion's removal may have left
                self._remove_staged(event.staged_object_id)
                if item.object_id is not None:
                    self._remove_permanent(item.object_id)
                log.warning(
                    "success for a deleted file refused; staged object removed", extra=_ids(item)
                )
                return None
            if item.staged_object_id != event.staged_object_id:
                log.warning("event for another staged object of a known file ignored")
                return None
            if item.state == REGISTERED:
                # a crash may have come between recording and removing the staged copy
                self._remove_staged(item.staged_object_id)
                log.info("already registered; duplicate ignored", extra=_ids(item))
                return None
            return item

        return lease.claim(
            read,
            self.repository.save,
            Lease(invocation.owner, invocation.lease_seconds(), self.clock),
            on_held=lambda item: log.info(
                "another invocation is registering this file", extra=_ids(item)
            ),
        )

    def _register(self, item: Registration, invocation: Invocation) -> None:
        assert item.state == COPYING and item.object_id is not None
        staged = self.storage.head(self.staging_bucket, item.staged_object_id or "")
        permanent = self.storage.head(item.bucket or self.permanent_bucket, item.object_id)
        if permanent is None or permanent.size != item.encrypted_size:
            if staged is None:
                raise RegistrationError(f"file {item.file_id}: the staged object is missing")
            if staged.size != item.encrypted_size:
                raise RegistrationError(
                    f"file {item.file_id}: the staged object has {staged.size} bytes, "
                    f"the event says {item.encrypted_size}"
                )
        manifest = self._staged_manifest(item)
        if staged is not None and (
            manifest.md5 is None or staged.etag != multipart_etag(manifest.md5)
        ):
            # IRS staged in parts of the manifest's part size: S3's ETag of the staged object
            # follows from the manifest's md5s, or the two do not belong together
            raise RegistrationError(
                f"file {item.file_id}: the part manifest does not describe the staged object"
            )
        if not self._copy(item, invocation):
            self._hand_on(item)
            return
        if self.after_copy is not None:
            self.after_copy(item)
        permanent_manifest = self._copy_manifest(item, manifest)
        self._not_deleted(item)
        assert item.interrogation is not None
        self.publisher.publish(
            FileInternallyRegistered(
                **{**item.interrogation, "parts_manifest": permanent_manifest.model_dump()},
                object_id=item.object_id,
                bucket=item.bucket,
            )
        )
        item.state = REGISTERED
        item.registered = self.clock()
        lease.clear(item)
        self._save(item)
        if item.staged_object_id is not None:
            self._remove_staged(item.staged_object_id)
        log.info("file registered", extra=_ids(item))

    def _copy(self, item: Registration, invocation: Invocation) -> bool:
        """The staged object to permanent storage, from the record's checkpoint on; True
        once complete, False when the rest is for a next invocation."""
        assert item.object_id is not None and item.staged_object_id is not None
        job = CopyJob(
            src_bucket=self.staging_bucket,
            src_key=item.staged_object_id,
            dst_bucket=item.bucket or self.permanent_bucket,
            dst_key=item.object_id,
            size=item.encrypted_size,
        )
        try:
            done = self.copier.copy(job, item, lambda: self._save(item), invocation)
        except ObjectNotFound as error:
            raise RegistrationError(f"file {item.file_id}: the staged object is missing") from error
        if done:
            log.info("copied to permanent storage", extra=_ids(item))
        return done

    def _hand_on(self, item: Registration) -> None:
        """The checkpoint is saved; free the lease and send the same event again to IFRS's
        own queue, so that a next invocation copies on."""
        assert item.interrogation is not None
        lease.clear(item)
        self._save(item)
        event = FileInterrogationSuccess.model_validate(item.interrogation)
        self.continuations.send(envelope(event).model_dump_json())
        log.info(
            "copy handed on to a next invocation",
            extra={**_ids(item), "parts_done": str(item.copy_parts_done)},
        )

    def _staged_manifest(self, item: Registration) -> PartsManifest:
        """The staged object's part manifest as the event names it, read and checked before
        any copy: in the staging bucket beside the staged object, its digest the event's
        (shared/manifest.py), one entry per staged part of the staged object's size."""
        assert item.interrogation is not None
        ref = ManifestRef.model_validate(item.interrogation["parts_manifest"])
        part_size = int(item.interrogation["encrypted_part_size"])
        if ref.bucket != self.staging_bucket or ref.key != manifest_key(
            item.staged_object_id or ""
        ):
            raise RegistrationError(f"file {item.file_id}: the part manifest is not beside it")
        try:
            manifest = read_manifest(self.storage, ref)
        except ManifestDamaged as error:
            raise RegistrationError(f"file {item.file_id}: {error}") from error
        if manifest.size != item.encrypted_size or manifest.part_size != part_size:
            raise RegistrationError(
                f"file {item.file_id}: the part manifest describes another object"
            )
        return manifest

    def _copy_manifest(self, item: Registration, manifest: PartsManifest) -> ManifestRef:
        """The part manifest beside the permanent object: the same bytes (so the same
        digest), written again by a repeated turn."""
        assert item.object_id is not None
        return write_manifest(
            self.storage, item.bucket or self.permanent_bucket, item.object_id, manifest
        )

    def _remove_staged(self, staged_object_id: str) -> None:
        """The staged object and its manifest (only ever in the configured staging bucket)."""
        remove_with_manifest(self.storage, self.staging_bucket, staged_object_id)

    def _remove_permanent(self, object_id: str) -> None:
        """A deleted file's permanent copy, its manifest and any copy left open under it."""
        remove_with_manifest(self.storage, self.permanent_bucket, object_id)
        abort_open_uploads(self.storage, self.permanent_bucket, object_id)

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
        self._remove_permanent(item.object_id)
        if item.staged_object_id is not None:
            self._remove_staged(item.staged_object_id)
        log.warning("file deleted during its registration; its copy removed", extra=_ids(item))
        return True


def _ids(item: Registration) -> dict[str, str]:
    return {"file_id": item.file_id, "object_id": item.object_id, "state": item.state}
