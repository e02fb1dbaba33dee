"""The interrogation room's core: join the two halves of an upload, then work on it in turns.

An inbox object is interrogated once both its S3 notification and its FileUploadReceived
event were seen, in whichever order and however often they arrive. The work runs under a
lease in the object's record, so two invocations never work on one file; an expired lease
(a crashed invocation) may be taken over. Streaming itself is in stream.py; this module
decides who works, hands work on, and finishes (success or failure) exactly once in effect.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from functions.irs.messages import continuation_body
from functions.irs.model import (
    COMPLETING,
    FAILED,
    FAILING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    WAITING,
    Interrogation,
    InterrogationRepository,
    StaleRecord,
    Upload,
)
from functions.irs.outcome import Rejected, failure_payload
from functions.irs.reencrypt import DEFAULT_MAX_PART_SIZE
from functions.irs.stream import stream
from shared.events import FileInterrogationFailure, FileInterrogationSuccess
from shared.ports import EventPublisher, KeyStore, MessageSender, ObjectNotFound, ObjectStorage

log = logging.getLogger("fs.irs")

LEASE_SLACK_S = 30.0  # a lease outlives its invocation by this much, and no more


@dataclass(frozen=True)
class Settings:
    inbox_bucket: str
    staging_bucket: str
    max_staging_part_size: int = DEFAULT_MAX_PART_SIZE
    invocation_budget_s: float = 780.0
    max_parts_per_invocation: int = 0  # 0: no limit besides time
    safety_margin_s: float = 120.0
    lease_s: float = 900.0  # below the queue's visibility timeout (960 s)
    header_probes: tuple[int, ...] = (64 * 1024, 1024 * 1024)


class Invocation:
    """One handler run: the lease owner, and when to hand the rest of the file on."""

    def __init__(self, settings: Settings, remaining_ms: Callable[[], int] | None = None) -> None:
        self.owner = str(uuid.uuid4())
        self.parts_done = 0
        self._settings = settings
        self._remaining_ms = remaining_ms
        self._started = time.monotonic()

    def lease_seconds(self) -> float:
        limit = self._settings.lease_s
        if self._remaining_ms is not None:
            limit = min(limit, self._remaining_ms() / 1000)
        return limit + LEASE_SLACK_S

    def should_hand_on(self) -> bool:
        settings = self._settings
        if settings.max_parts_per_invocation and (
            self.parts_done >= settings.max_parts_per_invocation
        ):
            return True
        if time.monotonic() - self._started >= settings.invocation_budget_s:
            return True
        remaining = self._remaining_ms() if self._remaining_ms is not None else None
        return remaining is not None and remaining / 1000 < settings.safety_margin_s


class LeaseLost(Exception):
    """Another invocation saved the record meanwhile: it owns the work now."""


class StagingIncomplete(RuntimeError):
    """The staged object is not what the checkpoint says; retried, then dead-lettered."""


class Interrogator:
    def __init__(
        self,
        *,
        storage: ObjectStorage,
        keys: KeyStore,
        publisher: EventPublisher,
        repository: InterrogationRepository,
        continuations: MessageSender,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
        after_part: Callable[[int], None] | None = None,
    ) -> None:
        self.storage = storage
        self.keys = keys
        self.publisher = publisher
        self.repository = repository
        self.continuations = continuations
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.after_part = after_part  # tests: observe or interrupt after each staged part

    # ------------------------------------------------------------ entry points

    def object_created(
        self, object_key: str, size: int, remaining_ms: Callable[[], int] | None = None
    ) -> None:
        """The S3 notification of a completed inbox object (duplicates are harmless)."""

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
            log.warning("lease lost; another invocation carries on", extra=_ids(item))
        except Exception:
            self._release(object_key, invocation.owner)
            raise

    def _take_lease(self, object_key: str, invocation: Invocation) -> Interrogation | None:
        for _ in range(5):
            item = self.repository.get(object_key)
            if item is None or item.state in TERMINAL:
                if item is not None:
                    log.info("already finished; message ignored", extra=_ids(item))
                return None
            if item.state == WAITING and not item.ready:
                return None
            now = self.clock()
            if item.lease_until is not None and item.lease_until > now:
                log.info("another invocation holds the lease", extra=_ids(item))
                return None
            item.lease_owner = invocation.owner
            item.lease_until = now + timedelta(seconds=invocation.lease_seconds())
            if item.state == WAITING:
                item.state = RUNNING
            try:
                self.repository.save(item)
            except StaleRecord:
                continue
            return item
        return None

    def _release(self, object_key: str, owner: str) -> None:
        """Give the lease back after a failed turn, so that the retry need not wait for it."""
        try:
            item = self.repository.get(object_key)
            if item is not None and item.lease_owner == owner:
                item.lease_owner = item.lease_until = None
                self.repository.save(item)
        except Exception:
            log.warning("could not release the lease", extra={"inbox_object_id": object_key})

    def _turn(self, item: Interrogation, invocation: Invocation) -> None:
        try:
            if item.state == COMPLETING:
                self.finish_success(item)
            elif item.state == FAILING:
                self.finish_failure(item)
            else:
                stream(self, item, invocation)
        except Rejected as rejected:
            self.fail(item, rejected.reason)

    def save(self, item: Interrogation) -> None:
        try:
            self.repository.save(item)
        except StaleRecord as error:
            raise LeaseLost(item.object_key) from error

    def hand_on(self, item: Interrogation) -> None:
        """Checkpoint is saved; free the lease and queue the rest for a next invocation."""
        item.lease_owner = item.lease_until = None
        self.save(item)
        self.continuations.send(continuation_body(item.object_key))
        log.info("handed on to a next invocation", extra={**_ids(item), "parts": len(item.parts)})

    # ------------------------------------------------------------ outcomes

    def fail(self, item: Interrogation, reason: str) -> None:
        item.state = FAILING
        item.reason = reason
        item.outcome = failure_payload(item, reason)
        item.hash_state = item.wrapped_secret = None
        self.save(item)
        log.info("upload rejected", extra={**_ids(item), "reason": reason})
        self.finish_failure(item)

    def finish_failure(self, item: Interrogation) -> None:
        """Leave nothing behind: no staging upload, no secret; then tell the world."""
        if item.staging_upload_id and item.staged_object_id:
            self.storage.abort_multipart(
                self.settings.staging_bucket, item.staged_object_id, item.staging_upload_id
            )
        if item.secret_id:
            self.keys.delete_secret(item.secret_id)
        assert item.outcome is not None and item.upload is not None
        self.publisher.publish(FileInterrogationFailure.model_validate(item.outcome))
        item.state = FAILED
        item.lease_owner = item.lease_until = None
        self.save(item)

    def finish_success(self, item: Interrogation) -> None:
        """Complete the staged object (once), check it, then publish the success."""
        assert item.outcome is not None and item.upload is not None
        assert item.staged_object_id and item.staging_upload_id
        bucket, key = self.settings.staging_bucket, item.staged_object_id
        try:
            listed = self.storage.list_parts(bucket, key, item.staging_upload_id)
        except ObjectNotFound:
            listed = None  # completed by an earlier attempt
        if listed is not None:
            listed.sort(key=lambda part: part.number)
            if [part.number for part in listed] != list(range(1, len(item.parts) + 1)):
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
        self.publisher.publish(FileInterrogationSuccess.model_validate(item.outcome))
        item.state = SUCCEEDED
        item.lease_owner = item.lease_until = None
        self.save(item)
        log.info("upload interrogated", extra={**_ids(item), "parts": len(item.parts)})


def _ids(item: Interrogation) -> dict[str, str | None]:
    return {
        "inbox_object_id": item.object_key,
        "file_id": item.upload.file_id if item.upload else None,
        "state": item.state,
    }
