"""What IFRS keeps about a registered file, and the repository port that keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

COPYING = "copying"  # permanent object id chosen; copy from staging not yet confirmed
REGISTERED = "registered"
DELETED = "deleted"  # a tombstone (docs/deletion.md): terminal, the id is never taken in again

LEASE_S = 930.0  # below the queue's visibility timeout (960 s)


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
        self.deleted = now
        self.deleted_by = requested_by


class FileRepository(Protocol):
    def get(self, file_id: str) -> Registration | None: ...

    def save(self, item: Registration) -> None:
        """Write if the stored version is still ``item.version`` (absent for None), then
        bump ``item.version``; shared.lease.StaleRecord otherwise."""
        ...
