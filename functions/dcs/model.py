"""What DCS knows about a downloadable file and its reader, and the port of its table.

DCS keeps its own view of every registered file (a DRS object): where its content lives in
the outbox and whether it is there. The state moves ``registered`` → ``staging`` (DCS asked
IFRS to copy it to the outbox) → ``staged`` (IFRS reported the copy) and back to
``registered`` when the outbox copy is removed for lack of use. Every move is a conditional
write, so concurrent requests agree on one winner (who alone publishes the staging request).

From any state (or none: a deletion may overtake the registration) the object becomes
``deleted``, for good: a tombstone that keeps the file id, the outbox key, who asked and
when, and nothing of the content (no checksum, size or secret id; docs/deletion.md). No
conditional move above leaves ``deleted``, and a later registration is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.events import key_fingerprint

REGISTERED = "registered"
STAGING = "staging"
STAGED = "staged"
DELETED = "deleted"  # a tombstone: every route answers 404, nothing is taken in again

MAX_RANGE_BYTES = 4 * 1024 * 1024  # base64 of it stays below Lambda's 6 MB response limit


@dataclass(frozen=True)
class DrsObject:
    """A registered file (every field set) or its tombstone (``state`` deleted: only the
    file id, the outbox key if the file was registered, and who deleted it when)."""

    file_id: str
    object_id: str | None = None  # the content's key: in permanent storage and the outbox
    secret_id: str | None = None  # EKSS's id of the file's secret: envelopes are built from it
    decrypted_sha256: str | None = None
    decrypted_size: int | None = None
    content_size: int | None = None  # the header-less encrypted object (what access_url serves)
    created: datetime | None = None  # when DCS learnt of the registered file
    state: str = REGISTERED
    staging_requested_at: datetime | None = None
    last_accessed: datetime | None = None
    deleted_by: str | None = None  # who asked for the deletion ("operator" or a user id)
    deleted_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.state == DELETED


@dataclass(frozen=True)
class Reader:
    """The user a download work order token speaks for."""

    public_key: bytes  # raw 32-byte Crypt4GH key of the user
    user_id: str
    work_package_id: str
    # the token itself: EKSS checks it again before it makes an envelope for public_key
    work_order_token: str = field(default="", repr=False)

    def audit_context(self) -> str:
        return f"user_id={self.user_id};work_package_id={self.work_package_id}"

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


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

    def keep_envelope(
        self, file_id: str, secret_id: str, reader: bytes, envelope: bytes
    ) -> bytes | None:
        """Store the envelope unless one is stored already; return the stored one.

        None if the file is deleted (or unknown): nothing is stored. Storing and recording
        the envelope on the file's object is one conditional write, so that an envelope
        either is found by ``drop_envelopes`` or never stored.
        """
        ...

    def tombstone(self, file_id: str, requested_by: str, at: datetime) -> DrsObject | None:
        """Make the object a tombstone, whatever its state, or create one if there is none.

        Returns the object as it was just before (None: there was none). The first
        deletion's ``requested_by`` and ``at`` are kept; the content's attributes go.
        """
        ...

    def drop_envelopes(self, file_id: str) -> int:
        """Delete every envelope kept for the file; how many there were (idempotent)."""
        ...

    def claim_audit(self, read_id: str, file_id: str, now: datetime, until: datetime) -> bool:
        """Claim the audit of one read (``read_id``, of ``file_id``) until ``until``: True
        unless a claim whose event went out still holds at ``now``. A claim whose event
        is not confirmed is claimed again (its publishing may have failed), so that no
        read is served unaudited; two requests racing for a new claim may both win."""
        ...

    def confirm_audit(self, read_id: str, file_id: str) -> None:
        """The event of the claim went out: later reads within its window publish nothing."""
        ...

    def audited_ranges(self, reader_id: str, file_id: str, now: datetime) -> tuple[int, datetime]:
        """How many partial reads of the file by the reader the current window counted so
        far, and when it ends ((0, now) if none, or it ended by ``now``); writes nothing."""
        ...

    def count_audited_range(
        self, reader_id: str, file_id: str, now: datetime, until: datetime
    ) -> tuple[int, datetime]:
        """One more partial read of the file by the reader in the current window (a new
        window, until ``until``, if the last one ended by ``now``): how many so far, this
        one included, and when the window ends."""
        ...
