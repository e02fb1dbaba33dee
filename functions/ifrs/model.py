"""What IFRS keeps about a registered file, and the repository port that keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

COPYING = "copying"  # permanent object id chosen; copy from staging not yet confirmed
REGISTERED = "registered"

LEASE_S = 930.0  # below the queue's visibility timeout (960 s)


@dataclass
class Registration:
    file_id: str
    object_id: str  # key in the permanent bucket, chosen once before any copy
    bucket: str  # the permanent bucket
    interrogation: dict[str, Any]  # the FileInterrogationSuccess payload
    state: str = COPYING
    version: int | None = None  # None: not stored yet
    lease_owner: str | None = None
    lease_until: datetime | None = None
    registered: datetime | None = None

    @property
    def staged_object_id(self) -> str:
        return str(self.interrogation["staged_object_id"])

    @property
    def encrypted_size(self) -> int:
        return int(self.interrogation["encrypted_size"])


class FileRepository(Protocol):
    def get(self, file_id: str) -> Registration | None: ...

    def save(self, item: Registration) -> None:
        """Write if the stored version is still ``item.version`` (absent for None), then
        bump ``item.version``; shared.lease.StaleRecord otherwise."""
        ...
