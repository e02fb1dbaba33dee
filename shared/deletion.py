"""How a holder of a file confirms its deletion: one log line and one event, both saying
who asked and what was removed (the audit trail of a purge; docs/deletion.md).

Every service that holds something of a file (shared.resources.deletion_holders) consumes
FileDeletionRequested, removes its part idempotently, keeps a tombstone of the file id so
that nothing of the file is ever taken in again, and then calls ``confirm``. A redelivered
request is confirmed again, with what the repeat removed (usually nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from shared.events import FileDeletionConfirmed, FileDeletionRequested
from shared.lease import CLAIM_ATTEMPTS, StaleRecord
from shared.ports import EventPublisher

log = logging.getLogger("fs.deletion")

R = TypeVar("R")


def bury(
    read: Callable[[], R | None],
    save: Callable[[R], None],
    *,
    buried: Callable[[R], bool],
    tombstone: Callable[[R | None], R],
    attempts: int = CLAIM_ATTEMPTS,
) -> tuple[R, bool]:
    """Write the tombstone over whatever versioned record there is, whoever holds its lease
    (the deletion does not wait: a read-modify-write retried on StaleRecord, so a running
    invocation loses its next save). The tombstone, and whether a live record became it
    (False: none was there, or it was buried already). StaleRecord after ``attempts`` lost
    races: the redelivery tries again."""
    for _ in range(attempts):
        current = read()
        if current is not None and buried(current):
            return current, False
        item = tombstone(current)
        try:
            save(item)
        except StaleRecord:
            continue
        return item, current is not None
    raise StaleRecord("the tombstone kept losing to other writes")


def confirm(
    publisher: EventPublisher,
    service: str,
    request: FileDeletionRequested,
    removed: Iterable[str],
) -> FileDeletionConfirmed:
    """Log and publish that ``service`` removed its part of ``request``'s file."""
    event = FileDeletionConfirmed(
        file_id=request.file_id,
        service=service,
        requested_by=request.requested_by,
        removed=list(removed),
    )
    log.info(
        "file's part removed" if event.removed else "nothing of the file held here",
        extra={
            "file_id": event.file_id,
            "service": service,
            "requested_by": event.requested_by,
            "removed": ", ".join(event.removed) or "nothing",
        },
    )
    publisher.publish(event)
    return event
