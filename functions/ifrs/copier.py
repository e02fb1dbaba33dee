"""One resumable, parallel server-side copy of an object, for both of IFRS's copies
(staging to permanent, permanent to outbox).

S3 copies an object above 5 GiB only as a multipart upload of UploadPartCopy parts, and an
object of 5 TiB in at most 10,000 of them. So the part size grows with the object
(copy_part_size) and many parts are copied at once (a thread pool of ``parts_in_flight``).
Nothing here grows with the part count but the one ListParts at the end:

- the destination's multipart upload id is recorded (the caller's ``save``) before any part
  is copied; a turn that finds none recorded first aborts every upload open under the
  destination key (a killed turn's, opened but never recorded), so no orphan is left;
- after each batch of parts the checkpoint is saved: the upload id, the part size and how
  many parts are done, nothing per part (the ETags come back from ListParts at the end);
- before each batch, and before the completion, the invocation may ask to hand on (its time
  is running out): the copy returns False and the caller queues the rest for a next
  invocation, which resumes from the checkpoint. A killed turn's redelivery resumes the
  same way: the parts of its last, unsaved batch are copied again (a repeated
  UploadPartCopy replaces the part).

The caller holds a lease on the record (shared/lease.py), so one invocation copies at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from functions.ifrs.errors import CopyRestarted
from functions.ifrs.model import CopySettings, Invocation
from shared.multipart import MIB, MIN_PART_SIZE, part_count, smallest_part_size
from shared.ports import ObjectNotFound, ObjectStorage
from shared.storage import abort_open_uploads

log = logging.getLogger("fs.ifrs")


@dataclass(frozen=True)
class CopyJob:
    src_bucket: str
    src_key: str
    dst_bucket: str
    dst_key: str
    size: int  # of the source, checked by the caller


class Checkpoint(Protocol):
    """A record's copy fields (Registration, OutboxCopy)."""

    copy_upload_id: str | None
    copy_part_size: int | None
    copy_parts_done: int


def copy_part_size(size: int, floor: int, *, min_part_size: int = MIN_PART_SIZE) -> int:
    """The part size of a copy of ``size`` bytes: the floor (never below S3's minimum), or
    more where that many parts would exceed 10,000, rounded up to whole MiB (to whole bytes
    on a test stack whose minimum part size is scaled below one MiB)."""
    unit = MIB if min_part_size >= MIB else 1
    return max(floor, min_part_size, smallest_part_size(size, unit))


def reset(progress: Checkpoint) -> None:
    """Forget the copy (saved by the caller): done, or to start again."""
    progress.copy_upload_id = progress.copy_part_size = None
    progress.copy_parts_done = 0


@dataclass(kw_only=True)
class Copier:
    storage: ObjectStorage
    settings: CopySettings
    after_batch: Callable[[int], None] | None = None  # tests: called with the parts done

    def copy(
        self,
        job: CopyJob,
        progress: Checkpoint,
        save: Callable[[], None],
        invocation: Invocation,
    ) -> bool:
        """Copy on from the checkpoint: True once the destination is complete (the
        checkpoint is then reset, for the caller to save), False when the invocation must
        hand on (the checkpoint is saved). ``save`` saves the record under its lease
        (LeaseLost if it was lost: the turn stops, and no part is in flight by then)."""
        if self._complete(job):
            reset(progress)
            return True
        if job.size == 0:  # no part to copy: S3 completes no multipart upload without one
            self.storage.put(job.dst_bucket, job.dst_key, b"")
            reset(progress)
            return True
        if progress.copy_upload_id is None or progress.copy_part_size is None:
            self._open(job, progress, save)
        assert progress.copy_upload_id is not None and progress.copy_part_size is not None
        total = part_count(job.size, progress.copy_part_size)
        try:
            with ThreadPoolExecutor(
                max_workers=max(1, min(self.settings.parts_in_flight, total)),
                thread_name_prefix="ifrs-copy",
            ) as pool:
                while True:
                    if not self._copy_parts(pool, job, progress, total, save, invocation):
                        return False
                    if invocation.parts_done and invocation.time_is_short():
                        return False  # the completion is the next invocation's first step
                    missing = self._complete_upload(job, progress, total)
                    if missing is None:
                        break
                    log.warning("copy lacks parts; copying them again", extra=_ids(job))
                    progress.copy_parts_done = missing - 1
                    save()
        except ObjectNotFound:
            return self._lost(job, progress, save)
        reset(progress)
        return True

    # ------------------------------------------------------------ steps

    def _open(self, job: CopyJob, progress: Checkpoint, save: Callable[[], None]) -> None:
        """A new multipart upload at the destination, recorded before any part goes in."""
        abort_open_uploads(self.storage, job.dst_bucket, job.dst_key)  # a killed turn's
        progress.copy_part_size = copy_part_size(
            job.size, self.settings.part_floor, min_part_size=self.settings.min_part_size
        )
        progress.copy_parts_done = 0
        progress.copy_upload_id = self.storage.create_multipart(job.dst_bucket, job.dst_key)
        save()
        log.info(
            "multipart copy opened",
            extra={
                **_ids(job),
                "part_size": progress.copy_part_size,
                "parts": part_count(job.size, progress.copy_part_size),
            },
        )

    def _copy_parts(
        self,
        pool: ThreadPoolExecutor,
        job: CopyJob,
        progress: Checkpoint,
        total: int,
        save: Callable[[], None],
        invocation: Invocation,
    ) -> bool:
        """Batches of parts, a checkpoint after each; False when handing on."""
        batch = max(1, self.settings.parts_in_flight)
        while progress.copy_parts_done < total:
            if invocation.should_hand_on():
                return False
            first = progress.copy_parts_done + 1
            last = min(progress.copy_parts_done + batch, total)
            self._batch(pool, job, progress, range(first, last + 1))
            progress.copy_parts_done = last
            invocation.parts_done += last - first + 1
            save()
            if self.after_batch is not None:
                self.after_batch(last)
        return True

    def _batch(
        self, pool: ThreadPoolExecutor, job: CopyJob, progress: Checkpoint, numbers: range
    ) -> None:
        """Copy these parts at once; every call has ended when this returns or raises."""
        upload_id, part_size = progress.copy_upload_id, progress.copy_part_size
        assert upload_id is not None and part_size is not None
        futures = [
            pool.submit(
                self.storage.upload_part_copy,
                job.src_bucket,
                job.src_key,
                job.dst_bucket,
                job.dst_key,
                upload_id,
                number,
                (number - 1) * part_size,
                min(number * part_size, job.size) - 1,
            )
            for number in numbers
        ]
        wait(futures)
        for future in futures:
            future.result()  # the first error, once none is in flight

    def _complete_upload(self, job: CopyJob, progress: Checkpoint, total: int) -> int | None:
        """Complete the upload with the parts' ETags from ListParts; None when done, else
        the first part that is missing or of the wrong size."""
        upload_id, part_size = progress.copy_upload_id, progress.copy_part_size
        assert upload_id is not None and part_size is not None
        listed = {
            part.number: part
            for part in self.storage.list_parts(job.dst_bucket, job.dst_key, upload_id)
        }
        etags: list[tuple[int, str]] = []
        for number in range(1, total + 1):
            part = listed.get(number)
            expected = min(number * part_size, job.size) - (number - 1) * part_size
            if part is None or part.size != expected:
                return number
            etags.append((number, part.etag))
        self.storage.complete_multipart(job.dst_bucket, job.dst_key, upload_id, etags)
        if not self._complete(job):
            raise CopyRestarted(f"{job.dst_key}: the completed copy has the wrong size")
        log.info("multipart copy completed", extra={**_ids(job), "parts": total})
        return None

    def _lost(self, job: CopyJob, progress: Checkpoint, save: Callable[[], None]) -> bool:
        """The source or the recorded upload is gone: done if an earlier turn completed it
        (killed before its save); the source's absence is the caller's to judge; else the
        upload was aborted (a deletion, the lifecycle rule): start again on the retry."""
        if self._complete(job):
            reset(progress)
            return True
        if self.storage.head(job.src_bucket, job.src_key) is None:
            raise ObjectNotFound(f"{job.src_bucket}/{job.src_key}")
        reset(progress)
        save()
        raise CopyRestarted(f"{job.dst_key}: the multipart copy was aborted; starting again")

    def _complete(self, job: CopyJob) -> bool:
        found = self.storage.head(job.dst_bucket, job.dst_key)
        return found is not None and found.size == job.size


def _ids(job: CopyJob) -> dict[str, str]:
    return {"object_id": job.dst_key, "bucket": job.dst_bucket}
