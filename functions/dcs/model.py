"""What DCS knows about a downloadable file, and the ports its core talks to.

DCS keeps its own view of every registered file (a DRS object): where its content lives in
the outbox and whether it is there. The state moves ``registered`` → ``staging`` (DCS asked
IFRS to copy it to the outbox) → ``staged`` (IFRS reported the copy) and back to
``registered`` when the outbox copy is removed for lack of use. Every move is a conditional
write, so concurrent requests agree on one winner (who alone publishes the staging request).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.errors import NotFound, ServiceError, Unavailable

REGISTERED = "registered"
STAGING = "staging"
STAGED = "staged"


@dataclass(frozen=True)
class DrsObject:
    file_id: str
    object_id: str  # key of the content: in permanent storage and, once staged, the outbox
    secret_id: str  # EKSS's id of the file's secret: envelopes are built from it
    decrypted_sha256: str
    decrypted_size: int
    content_size: int  # the header-less encrypted object (what access_url serves)
    created: datetime  # when DCS learnt of the registered file
    state: str = REGISTERED
    staging_requested_at: datetime | None = None
    last_accessed: datetime | None = None


class DrsRepository(Protocol):
    """DCS's table. Every ``bool`` answer says whether a conditional write won."""

    def get(self, file_id: str) -> DrsObject | None: ...

    def add_if_absent(self, item: DrsObject) -> bool: ...

    def request_staging(self, item: DrsObject, now: datetime) -> bool:
        """``item.state`` → staging at ``now``, if state and request time are as read."""
        ...

    def undo_staging_request(self, item: DrsObject, requested_at: datetime) -> bool:
        """Back to ``item`` as it was, if the request at ``requested_at`` is still current."""
        ...

    def mark_staged(self, file_id: str, now: datetime) -> bool:
        """registered/staging → staged, last accessed ``now``."""
        ...

    def touch(self, file_id: str, now: datetime) -> bool:
        """Record an access of a staged file."""
        ...

    def unstage(self, item: DrsObject) -> bool:
        """staged → registered, if not accessed since ``item.last_accessed``."""
        ...

    def staged_unused_since(self, cutoff: datetime) -> Iterator[DrsObject]:
        """Staged files last accessed before ``cutoff``."""
        ...

    def get_envelope(self, file_id: str, secret_id: str, reader: bytes) -> bytes | None: ...

    def keep_envelope(self, file_id: str, secret_id: str, reader: bytes, envelope: bytes) -> bytes:
        """Store the envelope unless one is stored already; return the stored one."""
        ...


# ------------------------------------------------------------------ errors


class NoSuchObject(NotFound):
    exception_id = "noSuchObject"


class KeyStoreDown(Unavailable):
    exception_id = "keyStoreUnavailable"


class EventsDown(Unavailable):
    exception_id = "eventPublishingFailed"


class RangeTooLarge(ServiceError):
    status = 413
    exception_id = "rangeTooLarge"


class InvalidRange(ServiceError):
    status = 400
    exception_id = "invalidRange"


class RangeNotSatisfiable(ServiceError):
    status = 416
    exception_id = "rangeNotSatisfiable"


class NotAcceptable(ServiceError):
    status = 406
    exception_id = "notAcceptable"
