"""What IFRS keeps about a registered file and about an outbox copy under way, the ports
that keep them, and the policy of its resumable copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from shared.invocation import (  # noqa: F401  (re-exported: the service's policy)
    INVOCATION_BUDGET_S,
    LEASE_SLACK_S,
    SAFETY_MARGIN_S,
    Invocation,
)
from shared.multipart import MIB, MIN_PART_SIZE

COPYING = "copying"  # permanent object id chosen; copy from staging not yet confirmed
REGISTERED = "registered"
DELETED = "deleted"  # a tombstone (docs/deletion.md): terminal, the id is never taken in again

LEASE_S = 930.0  # below the queue's visibility timeout (960 s)

# the copy policy's defaults, written once (config.py reads them)
COPY_PART_FLOOR: Final = 64 * MIB  # copy parts are never smaller (fewer calls, checkpoints)
PARTS_IN_FLIGHT: Final = 16  # UploadPartCopy calls at once; one batch between checkpoints


@dataclass
class Registration:
    file_id: str
    # key in the permanent bucket, chosen once before any copy (None: a tombstone written
    # before any FileInterrogationSuccess, so nothing was ever copied)
    object_id: str | None
    bucket: str | None  # the permanent bucket
    # the FileInterrogationSuccess payload; None in a tombstone (no checksum, no secret id)
    interrogation: dict[str, Any] | None
    state: str = COPYING
    version: int | None = None  # None: not stored yet
    lease_owner: str | None = None
    lease_until: datetime | None = None
    registered: datetime | None = None
    # kept in the tombstone too, so that a redelivered deletion can remove it again
    staged_object_id: str | None = None
    deleted: datetime | None = None
    deleted_by: str | None = None
    # the checkpoint of the copy to permanent storage (copier.py): the multipart upload,
    # recorded before any part is copied, its part size and how many parts are done
    copy_upload_id: str | None = None
    copy_part_size: int | None = None
    copy_parts_done: int = 0

    def __post_init__(self) -> None:
        if self.staged_object_id is None and self.interrogation is not None:
            # records saved before the attribute existed carry it in the payload only
            self.staged_object_id = str(self.interrogation["staged_object_id"])

    @property
    def encrypted_size(self) -> int:
        assert self.interrogation is not None, "a tombstone has no size"
        return int(self.interrogation["encrypted_size"])

    @property
    def is_tombstone(self) -> bool:
        return self.state == DELETED

    def tombstone(self, requested_by: str, now: datetime) -> None:
        """Become the file's tombstone, whatever the state and whoever holds the lease: only
        the ids of the objects to remove, who asked and when are kept."""
        self.state = DELETED
        self.interrogation = None
        self.lease_owner = self.lease_until = None
        # the deletion aborts every upload under the object id, recorded or not
        self.copy_upload_id = self.copy_part_size = None
        self.copy_parts_done = 0
        self.deleted = now
        self.deleted_by = requested_by


class FileRepository(Protocol):
    def get(self, file_id: str) -> Registration | None: ...

    def save(self, item: Registration) -> None:
        """Write if the stored version is still ``item.version`` (absent for None), then
        bump ``item.version``; shared.lease.StaleRecord otherwise."""
        ...


@dataclass
class OutboxCopy:
    """A copy of a registered file to the outbox under way: its lease and checkpoint, one
    per destination key, removed once the copy is reported (or the file deleted)."""

    target_object_id: str  # the key in the outbox
    file_id: str
    version: int | None = None  # None: not stored yet
    lease_owner: str | None = None
    lease_until: datetime | None = None
    copy_upload_id: str | None = None
    copy_part_size: int | None = None
    copy_parts_done: int = 0


class CopyRepository(Protocol):
    def get(self, target_object_id: str) -> OutboxCopy | None: ...

    def save(self, item: OutboxCopy) -> None:
        """As FileRepository.save: versioned, StaleRecord if another save came first (or
        the item was removed meanwhile)."""
        ...

    def delete(self, target_object_id: str) -> bool:
        """Remove the record, whoever holds it; whether it was there."""
        ...


@dataclass(frozen=True)
class CopySettings:
    """How IFRS copies: part size floor, parts in flight, when to hand on."""

    part_floor: int = COPY_PART_FLOOR
    parts_in_flight: int = PARTS_IN_FLIGHT
    invocation_budget_s: float = INVOCATION_BUDGET_S
    safety_margin_s: float = SAFETY_MARGIN_S
    max_parts_per_invocation: int = 0  # 0: no limit besides time (tests force hand-ons)
    lease_s: float = LEASE_S
    # S3's minimum part size; only the fast tests on the in-memory fakes go below it
    min_part_size: int = MIN_PART_SIZE
