"""The scheduled clean-up of abandoned uploads.

An upload still open after the configured age is cancelled (its multipart upload
aborted), exactly as if its submitter had deleted it; a multipart upload in the inbox
that no open upload owns (a create that died before writing its record) is aborted.
A run stops when its time budget is spent; the next run continues. Only open uploads are
looked at: a purged (``deleted``) or cancelled upload is left alone, and an open upload
purged meanwhile makes the cancel lose its conditional write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from functions.ucs.boxes import is_uuid
from functions.ucs.core import UploadController
from functions.ucs.errors import StaleState
from functions.ucs.model import CANCELLED, INIT, UcsRepository
from shared.clock import utcnow
from shared.ports import ObjectStorage

log = logging.getLogger("fs.ucs")


class AbandonedUploadCleaner:
    def __init__(
        self,
        controller: UploadController,
        repository: UcsRepository,
        storage: ObjectStorage,
        inbox_bucket: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._controller = controller
        self._repository = repository
        self._storage = storage
        self._bucket = inbox_bucket
        self._clock = clock

    def run(self, max_age: timedelta, budget_s: float | None = None) -> dict[str, int | bool]:
        """Clean up what is older than ``max_age``; report what was done."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        now = self._clock()
        cutoff = now - max_age
        cancelled = orphans = 0
        finished = False
        for upload in self._repository.uploads_in_state_before(INIT, cutoff):
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                self._repository.transition(
                    upload,
                    CANCELLED,
                    now=now,
                    reason=f"abandoned: not closed within {int(max_age.total_seconds())} s",
                )
            except StaleState:
                continue  # closed or deleted meanwhile
            self._controller.free_storage(upload, INIT)
            cancelled += 1
        else:
            orphans, finished = self._abort_orphans(cutoff, deadline)
        if cancelled or orphans:
            log.info(
                "abandoned uploads cleaned up",
                extra={"cancelled": cancelled, "orphans_aborted": orphans, "finished": finished},
            )
        return {"cancelled": cancelled, "orphans_aborted": orphans, "finished": finished}

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
