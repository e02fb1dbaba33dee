"""The download controller: DRS objects, envelopes, the assembled file by range, the outbox.

A file is served from the outbox only. When it is not there, the answer is "retry later"
(202 with a wait scaled to the size) and IFRS is asked, once per staging, to copy it there
(NonStagedFileRequested); the conditional write that moves the file to ``staging`` picks
the one request that publishes, however many polls race. IFRS's FileStagedForDownload marks
it staged. Copies unused for a configured time are removed by the scheduled clean-up.

A deleted file's object is a tombstone (deletion.py): every route refuses it as
``fileDeleted`` (404), nothing asks for its staging again, and a copy reported staged
after the tombstone is removed instead of served.

Envelopes come from the key store and are kept per (file, secret, reader key): a header is
randomised each time it is built, and a range reader that reads the envelope in two
requests must get the bytes of one and the same header.

Whatever is handed out (a DRS object's URL, an envelope, bytes of the assembled file) is
audited first, once per read and window (audit.py, docs/audit.md).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.dcs.audit import DownloadAudit
from functions.dcs.errors import (
    ContentUnavailable,
    EventsDown,
    KeyStoreDown,
    NoSuchObject,
    ObjectDeleted,
)
from functions.dcs.model import REGISTERED, STAGED, STAGING, DrsObject, DrsRepository, Reader
from functions.dcs.ranges import ByteRange, check_size, parse_range, split
from shared.clock import utcnow
from shared.events import (
    ACCESS_ASSEMBLED,
    ACCESS_DRS_OBJECT,
    ACCESS_ENVELOPE,
    EventSchema,
    FileInternallyRegistered,
    FileStagedForDownload,
    NonStagedFileRequested,
)
from shared.ports import (
    EventPublisher,
    KeyStore,
    KeyStoreRejected,
    KeyStoreUnavailable,
    ObjectNotFound,
    ObjectStorage,
    SecretNotFound,
)

log = logging.getLogger("fs.dcs")


@dataclass(frozen=True)
class DownloadPolicy:
    """How the controller serves and stages; every value comes from DcsConfig, which holds
    the defaults and bounds (the one place a setting is written)."""

    outbox_bucket: str
    drs_host: str  # names the objects: drs://<host>/<file_id>
    presigned_url_lifetime_s: int
    retry_after_min_s: int
    retry_after_max_s: int
    staging_bytes_per_s: int
    staging_timeout_s: int  # the least time after which a staging request is made again
    staging_copy_bytes_per_s: int  # the slowest copy assumed: the timeout grows with the size
    outbox_max_age_s: int
    max_range_bytes: int
    audit_window_s: int  # a read repeated within it is not audited again (audit.py)
    audit_max_ranges: int  # partial reads of a file itemised per reader and window

    def retry_after(self, size: int) -> int:
        """Whole seconds to wait for a copy of ``size`` bytes, within the configured range."""
        wanted = math.ceil(size / self.staging_bytes_per_s)
        return max(self.retry_after_min_s, min(self.retry_after_max_s, wanted))

    def staging_timeout(self, size: int | None) -> timedelta:
        """How long a staging request of a ``size``-byte file may stay unanswered before
        it is made again: the fixed timeout plus a copy at the slowest assumed rate, so
        that a copy of a large file still running is not asked for a second time."""
        copy_s = math.ceil((size or 0) / self.staging_copy_bytes_per_s)
        return timedelta(seconds=self.staging_timeout_s + copy_s)


@dataclass(frozen=True)
class Wait:
    """Not in the outbox yet: ask again after ``retry_after_s`` seconds. ``size`` is the
    content size being staged, so a client can scale its patience with it."""

    retry_after_s: int
    size: int | None = None


@dataclass(frozen=True)
class Served:
    """The file is in the outbox: its DRS name and a presigned URL of the content."""

    item: DrsObject
    self_uri: str
    access_url: str


@dataclass(frozen=True)
class Assembled:
    data: bytes
    total: int  # envelope + content
    served: ByteRange | None  # None: the whole file


class DownloadController:
    def __init__(
        self,
        *,
        repository: DrsRepository,
        storage: ObjectStorage,
        publisher: EventPublisher,
        keys: KeyStore,
        policy: DownloadPolicy,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.repository = repository
        self.storage = storage
        self.publisher = publisher
        self.keys = keys
        self.policy = policy
        self.clock = clock or utcnow
        self.audit = DownloadAudit(
            repository, self._publish, policy.audit_window_s, policy.audit_max_ranges, self.clock
        )

    # ------------------------------------------------------------ HTTP side

    def drs_object(self, file_id: str, reader: Reader) -> Served | Wait:
        """The DRS object with a presigned outbox URL, or a wait while staging."""
        item = self._known(file_id)
        if not self._ready(item):
            return self._wait(item)
        url = self.storage.presign_get(
            self.policy.outbox_bucket, item.object_id, self.policy.presigned_url_lifetime_s
        )
        self.audit.served(item, reader, ACCESS_DRS_OBJECT, self._target(item), item.content_size)
        log.info("download served", extra={"file_id": file_id})
        return Served(item, f"drs://{self.policy.drs_host}/{item.file_id}", url)

    def envelope(self, file_id: str, reader: Reader) -> bytes:
        """The file's Crypt4GH header for the reader's key (the same bytes every time)."""
        item = self._known(file_id)
        envelope = self._envelope(item, reader)
        self.audit.served(item, reader, ACCESS_ENVELOPE, self._target(item), len(envelope))
        return envelope

    def assembled(
        self, file_id: str, reader: Reader, range_header: str | None, head: bool = False
    ) -> Assembled | Wait:
        """Bytes of envelope + content, for one range (or the whole, if small enough)."""
        item = self._known(file_id)
        if not self._ready(item):
            return self._wait(item)
        envelope = self._envelope(item, reader)
        total = len(envelope) + item.content_size
        if head:
            return Assembled(b"", total, None)
        wanted = parse_range(range_header, total)
        served = wanted or ByteRange(0, total - 1)
        check_size(served, self.policy.max_range_bytes, total)
        pieces = split(served, len(envelope))
        data = b""
        if pieces.envelope is not None:
            data += envelope[pieces.envelope[0] : pieces.envelope[1]]
        if pieces.content is not None:
            try:
                data += self.storage.get_range(
                    self.policy.outbox_bucket, item.object_id, *pieces.content
                )
            except ObjectNotFound:
                log.info("outbox copy removed while reading", extra={"file_id": file_id})
                return self._wait(item)
        if len(data) != served.length:
            raise ContentUnavailable("The file could not be read completely; try again shortly.")
        self.audit.served(item, reader, ACCESS_ASSEMBLED, self._target(item), total, served)
        return Assembled(data, total, wanted)

    # ------------------------------------------------------------ events

    def on_registered(self, event: FileInternallyRegistered) -> bool:
        """Learn of a registered file (idempotent: an existing record is never changed)."""
        item = DrsObject(
            file_id=event.file_id,
            object_id=event.object_id,
            secret_id=event.secret_id,
            decrypted_sha256=event.decrypted_sha256,
            decrypted_size=event.decrypted_size,
            content_size=event.encrypted_size,
            created=self.clock(),
        )
        added = self.repository.add_if_absent(item)
        if added:
            log.info("file registered for download", extra={"file_id": event.file_id})
        elif self._is_deleted(event.file_id):
            log.warning("file deleted; its registration refused", extra={"file_id": event.file_id})
        else:
            log.info("registration known; ignored", extra={"file_id": event.file_id})
        return added

    def on_staged(self, event: FileStagedForDownload) -> bool:
        """Mark a file staged once its copy is really in the outbox (idempotent)."""
        item = self.repository.get(event.file_id)
        ids = {"file_id": event.file_id}
        if item is None:
            log.warning("staged file is unknown here; ignored", extra=ids)
            return False
        if item.deleted:
            self._remove_late_copy(event)
            return False
        if (
            event.target_bucket != self.policy.outbox_bucket
            or event.target_object_id != item.object_id
        ):
            log.warning("staged copy is not where this file's copy belongs; ignored", extra=ids)
            return False
        if item.state == STAGED:
            log.info("already staged; duplicate ignored", extra=ids)
            return False
        copy = self.storage.head(self.policy.outbox_bucket, item.object_id)
        if copy is None or copy.size != item.content_size:
            # a late duplicate after the copy was removed, or a broken copy: not staged
            log.warning("staged copy missing or of the wrong size; ignored", extra=ids)
            return False
        marked = self.repository.mark_staged(item.file_id, self.clock())
        if not marked and self._is_deleted(item.file_id):
            self._remove_late_copy(event)  # deleted while this was checked
            return False
        log.info("file staged" if marked else "file changed meanwhile; ignored", extra=ids)
        return marked

    def _remove_late_copy(self, event: FileStagedForDownload) -> None:
        """A copy staged for a deleted file: removed from the outbox, never served."""
        ids = {"file_id": event.file_id}
        if event.target_bucket != self.policy.outbox_bucket:
            log.warning("staged copy of a deleted file is not in the outbox; ignored", extra=ids)
            return
        self.storage.delete(self.policy.outbox_bucket, event.target_object_id)
        log.warning("staged copy of a deleted file removed", extra=ids)

    def _is_deleted(self, file_id: str) -> bool:
        item = self.repository.get(file_id)
        return item is not None and item.deleted

    # ------------------------------------------------------------ schedule

    def clean_outbox(self) -> dict[str, int]:
        """Remove outbox copies not requested for ``outbox_max_age_s``."""
        cutoff = self.clock() - timedelta(seconds=self.policy.outbox_max_age_s)
        counts = {"removed": 0, "in_use": 0, "failed": 0}
        for item in self.repository.staged_unused_since(cutoff):
            if item.deleted:
                continue  # a tombstone holds no copy; its deletion removed it
            ids = {"file_id": item.file_id}
            try:
                if not self.repository.unstage(item):
                    counts["in_use"] += 1  # requested since it was listed
                    continue
                self.storage.delete(self.policy.outbox_bucket, item.object_id)
            except Exception:
                log.exception("outbox copy could not be removed", extra=ids)
                counts["failed"] += 1
                continue
            counts["removed"] += 1
            log.info("outbox copy removed", extra=ids)
        return counts

    # ------------------------------------------------------------ steps

    def _known(self, file_id: str) -> DrsObject:
        """The live object of the file; an unknown or deleted file is refused (404)."""
        item = self.repository.get(file_id)
        if item is None:
            raise NoSuchObject("There is no file with this id.", data={"file_id": file_id[:100]})
        if item.deleted:
            raise self._deleted(file_id)
        return item

    @staticmethod
    def _deleted(file_id: str) -> ObjectDeleted:
        return ObjectDeleted(
            "This file was deleted from the archive.", data={"file_id": file_id[:100]}
        )

    def _wait(self, item: DrsObject) -> Wait:
        return Wait(self.policy.retry_after(item.content_size), item.content_size)

    def _ready(self, item: DrsObject) -> bool:
        """Whether the content is in the outbox now; asks for staging if it is not."""
        now = self.clock()
        if item.state == STAGED:
            copy = self.storage.head(self.policy.outbox_bucket, item.object_id)
            if copy is not None and copy.size == item.content_size:
                # False if it was cleaned up since it was read: the next poll asks again
                return self.repository.touch(item.file_id, now)
            if copy is not None:
                log.error("outbox copy has the wrong size; removed", extra=self._ids(item))
                self.storage.delete(self.policy.outbox_bucket, item.object_id)
            self._request_staging(item, now)
        elif item.state == REGISTERED:
            self._request_staging(item, now)
        elif item.state == STAGING and self._stale(item, now):
            log.warning("staging request unanswered; asking again", extra=self._ids(item))
            self._request_staging(item, now)
        return False

    def _stale(self, item: DrsObject, now: datetime) -> bool:
        requested = item.staging_requested_at
        timeout = self.policy.staging_timeout(item.content_size)
        return requested is None or requested + timeout <= now

    def _request_staging(self, item: DrsObject, now: datetime) -> None:
        if not self.repository.request_staging(item, now):
            return  # another request won: it publishes
        try:
            self._publish(NonStagedFileRequested(**self._target(item)))
        except EventsDown:
            with contextlib.suppress(Exception):  # else the staging timeout recovers
                self.repository.undo_staging_request(item, now)
            raise
        log.info("staging requested", extra=self._ids(item))

    def _publish(self, event: EventSchema) -> None:
        event_type = type(event).__name__
        try:
            self.publisher.publish(event)
        except Exception as error:
            log.exception("event not published", extra={"event_type": event_type})
            raise EventsDown(
                "The request could not be completed; try again shortly.",
                data={"event_type": event_type},
            ) from error

    def _envelope(self, item: DrsObject, reader: Reader) -> bytes:
        """Kept, or from the key store for the reader's work order (EKSS checks it too)."""
        key = reader.public_key
        kept = self.repository.get_envelope(item.file_id, item.secret_id, key)
        if kept is not None:
            return kept
        try:
            fresh = self.keys.envelope(item.secret_id, key, reader.work_order_token)
        except SecretNotFound as error:  # EKSS confirmed the deletion before DCS did
            raise ObjectDeleted(
                "The key of this file is gone; the file is being deleted.",
                data={"file_id": item.file_id},
            ) from error
        except (KeyStoreUnavailable, KeyStoreRejected) as error:
            log.warning("key store unavailable", extra={**self._ids(item), "cause": str(error)})
            raise KeyStoreDown("The key store is unavailable; try again shortly.") from error
        kept = self.repository.keep_envelope(item.file_id, item.secret_id, key, fresh)
        if kept is None:  # deleted since it was read: the envelope was not kept
            raise self._deleted(item.file_id)
        return kept

    def _target(self, item: DrsObject) -> dict[str, str]:
        return {
            "file_id": item.file_id,
            "target_object_id": item.object_id,
            "target_bucket": self.policy.outbox_bucket,
            "decrypted_sha256": item.decrypted_sha256,
        }

    @staticmethod
    def _ids(item: DrsObject) -> dict[str, str]:
        return {"file_id": item.file_id, "object_id": item.object_id}
