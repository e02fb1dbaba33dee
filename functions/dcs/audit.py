"""The audit of downloads: one FileDownloadServed per read of a file, not one per request.

A *read* is what one reader (work package, user, Crypt4GH key) got of one file by one
access: the DRS object (a presigned URL of the whole content), the envelope, or bytes of
the assembled file, whole or one range of it. Its event goes out before anything is handed
out (a failed publish refuses the request: nothing leaves unaudited), and is not repeated
for the same read within ``audit_window_s``: clients poll, retry, renew expired URLs and
fetch a fresh work order token per call (GHGA's does), and none of that is a new read. A
distinct range is a distinct read, so a range reader's pattern stays visible, up to
``max_ranges`` ranges of a file per reader and window; one event with ``more_ranges``
stands for all further ones, so that a whole file read by range does not flood the audit.
The connectors fetch content from the presigned URL, which DCS never sees: their parallel
ranges cost one event per file, not one per range.

The window is kept as a claim per read in DCS's table (``claim_audit``); see docs/audit.md
for the fields and how to count.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from functions.dcs.model import DrsObject, DrsRepository, Reader
from functions.dcs.ranges import ByteRange
from shared.events import EventSchema, FileDownloadServed

log = logging.getLogger("fs.dcs")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def reader_id(reader: Reader) -> str:
    """The name of one reader: work package, user and key (32 hex digits)."""
    return _digest(reader.work_package_id, reader.user_id, reader.key_fingerprint)


def read_id(file_id: str, reader: Reader, access: str, part: ByteRange | str | None) -> str:
    """The name of one read: the same for every request that repeats it (32 hex digits).
    ``part``: the range, None for the whole, or a word for the ranges beyond the cap."""
    where = f"{part.start}-{part.end}" if isinstance(part, ByteRange) else part or "whole"
    return _digest(file_id, reader_id(reader), access, where)


class DownloadAudit:
    def __init__(
        self,
        repository: DrsRepository,
        publish: Callable[[EventSchema], None],
        window_s: int,
        max_ranges: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._publish = publish  # raises EventsDown when the event did not go out
        self._window = timedelta(seconds=window_s)
        self._max_ranges = max_ranges
        self._clock = clock

    def served(
        self,
        item: DrsObject,
        reader: Reader,
        access: str,
        target: dict[str, str],
        size: int,
        part: ByteRange | None = None,
    ) -> bool:
        """Publish the read's event unless it went out within the window (True: published).

        ``size``: bytes of the whole accessed; ``part``: the range served, if it is less.
        """
        if part is not None and part.length >= size:
            part = None  # a range over the whole is a whole read
        name = read_id(item.file_id, reader, access, part)
        now = self._clock()
        until = now + self._window
        past_cap = None
        if part is not None:
            counted, window_end = self._repository.audited_ranges(
                reader_id(reader), item.file_id, now
            )
            if counted > self._max_ranges:
                past_cap = window_end
        event = FileDownloadServed(
            **target,
            context=reader.audit_context(),
            access=access,
            user_id=reader.user_id,
            work_package_id=reader.work_package_id,
            reader_key_fingerprint=reader.key_fingerprint,
            size=size,
            range_start=None if part is None else part.start,
            range_end=None if part is None else part.end,
            read_id=name,
        )
        more = read_id(item.file_id, reader, access, "more")
        summary = event.model_copy(
            update={"range_start": None, "range_end": None, "read_id": more, "more_ranges": True}
        )
        if past_cap is not None:  # no claim of its own (a reader may ask for ranges without
            # end): the window's one summary stands for it, for the rest of the window
            return self._publish_once(more, item, summary, now, past_cap)
        if not self._repository.claim_audit(name, item.file_id, now, until):
            return False
        if part is not None:
            counted, window_end = self._repository.count_audited_range(
                reader_id(reader), item.file_id, now, until
            )
            if counted > self._max_ranges:  # beyond the cap: one event stands for the rest
                published = self._publish_once(more, item, summary, now, window_end)
                self._confirm(name, item)  # counted: a retry of this range is not counted again
                return published
        self._publish(event)
        self._confirm(name, item)
        return True

    def _publish_once(
        self, name: str, item: DrsObject, event: FileDownloadServed, now: datetime, until: datetime
    ) -> bool:
        if not self._repository.claim_audit(name, item.file_id, now, until):
            return False
        self._publish(event)
        self._confirm(name, item)
        return True

    def _confirm(self, name: str, item: DrsObject) -> None:
        try:
            self._repository.confirm_audit(name, item.file_id)
        except Exception:  # published: the next request of the read publishes it once more
            log.warning("audit claim not confirmed", extra={"file_id": item.file_id})
