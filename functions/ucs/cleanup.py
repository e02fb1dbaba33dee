"""The scheduled clean-up: unannounced closes, abandoned uploads, orphaned multipart uploads.

Each run does, within its time budget (the next run continues):

1. the outbox sweep: every upload closed more than ``announce_grace`` ago whose
   FileUploadReceived was never recorded as published (the close died or its publish
   failed, and the client did not retry) is announced now (functions/ucs/announce.py);
2. an upload still open whose last sign of life is older than ``max_age`` is cancelled (its
   multipart upload aborted), exactly as if its submitter had deleted it. The last sign of
   life is the latest of its creation, the last part URL or resume listing UCS handed out
   (``last_activity``, recorded at most hourly) and the newest part S3 stored (the client
   sends parts to S3 directly): a terabyte upload that takes days is not abandoned while
   its parts still arrive;
3. a multipart upload in the inbox that no open upload owns (a create that died before
   writing its record) is aborted.

Only open uploads are cancelled: a purged (``deleted``) or cancelled upload is left alone,
and an open upload purged meanwhile makes the cancel lose its conditional write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from functions.ucs.boxes import is_uuid
from functions.ucs.core import UploadController
from functions.ucs.errors import StaleState
from functions.ucs.model import CANCELLED, INIT, UcsRepository, Upload
from shared.clock import utcnow
from shared.ports import ObjectNotFound, ObjectStorage

log = logging.getLogger("fs.ucs")

Report = dict[str, int | bool]


class AbandonedUploadCleaner:
    def __init__(
        self,
        controller: UploadController,
        repository: UcsRepository,
        storage: ObjectStorage,
        inbox_bucket: str,
        clock: Callable[[], datetime] = utcnow,
        *,
        announce_grace: timedelta,
    ) -> None:
        self._controller = controller
        self._repository = repository
        self._storage = storage
        self._bucket = inbox_bucket
        self._clock = clock
        self._announce_grace = announce_grace

    def run(self, max_age: timedelta, budget_s: float | None = None) -> Report:
        """Announce, cancel and abort what is due; report what was done."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        now = self._clock()
        cutoff = now - max_age
        announced, finished = self._controller.announcer.sweep(now - self._announce_grace, deadline)
        cancelled = active = orphans = 0
        if finished:
            cancelled, active, finished = self._cancel_abandoned(cutoff, now, max_age, deadline)
        if finished:
            orphans, finished = self._abort_orphans(cutoff, deadline)
        report: Report = {
            "announced": announced,
            "cancelled": cancelled,
            "still_active": active,
            "orphans_aborted": orphans,
            "finished": finished,
        }
        if announced or cancelled or orphans:
            log.info("clean-up done", extra=report)
        return report

    def _cancel_abandoned(
        self, cutoff: datetime, now: datetime, max_age: timedelta, deadline: float | None
    ) -> tuple[int, int, bool]:
        """(cancelled, kept because still active, finished) for the open uploads created
        before ``cutoff``."""
        cancelled = active = 0
        for upload in self._repository.uploads_in_state_before(INIT, cutoff):
            if deadline is not None and time.monotonic() > deadline:
                return cancelled, active, False
            if self.last_seen(upload, cutoff) > cutoff:
                active += 1
                continue
            try:
                self._repository.transition(
                    upload,
                    CANCELLED,
                    now=now,
                    reason=f"abandoned: no activity for {int(max_age.total_seconds())} s",
                )
            except StaleState:
                continue  # closed or deleted meanwhile
            self._controller.free_storage(upload, INIT)
            cancelled += 1
        return cancelled, active, True

    def last_seen(self, upload: Upload, cutoff: datetime) -> datetime:
        """The upload's last sign of life: its record's, or if that is not after ``cutoff``
        the newest part S3 stored (one ListParts page per 1,000 parts)."""
        seen = upload.last_seen
        if seen > cutoff:
            return seen
        try:
            parts = self._storage.list_parts(self._bucket, upload.object_id, upload.s3_upload_id)
        except ObjectNotFound:
            return seen  # no multipart upload left (a close died after completing it)
        stored = [part.last_modified for part in parts if part.last_modified is not None]
        return max([seen, *stored])

    def _abort_orphans(self, cutoff: datetime, deadline: float | None) -> tuple[int, bool]:
        aborted = 0
        for multipart in self._storage.list_multipart_uploads(self._bucket):
            if deadline is not None and time.monotonic() > deadline:
                return aborted, False
            if multipart.initiated > cutoff:
                continue
            owner = self._repository.get_upload(multipart.key) if is_uuid(multipart.key) else None
            if owner is None or owner.state != INIT or owner.s3_upload_id != multipart.upload_id:
                self._storage.abort_multipart(self._bucket, multipart.key, multipart.upload_id)
                aborted += 1
        return aborted, True
