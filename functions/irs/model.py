"""What IRS knows about one inbox object, its policy, and the ports it works through.

One record per inbox object key joins the two halves of an upload (the S3 notification and
the FileUploadReceived event) and carries the checkpoint of a running interrogation. It never
holds a secret: every turn gets both secrets of the file from the key store again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE
from shared.crypt.c4gh import MIN_ALIGNED_PART_SIZE as MIN_PART_SIZE
from shared.events import FileUploadReceived, UploadDeclaration
from shared.ports import KeyStore, ObjectStorage

WAITING = "waiting"  # one half of the upload seen, not both
RUNNING = "running"
COMPLETING = "completing"  # all parts staged and checked; finishing and publishing
FAILING = "failing"  # rejected; cleaning up and publishing
SUCCEEDED = "succeeded"
FAILED = "failed"
DELETED = "deleted"  # a tombstone: the file was deleted; nothing of it is taken in again
TERMINAL = frozenset({SUCCEEDED, FAILED, DELETED})

# the policy's defaults, written once (config.py reads them)
DEFAULT_MAX_PART_SIZE = 1024 * CIPHER_SEGMENT_SIZE  # 67,137,536, GHGA's default part size
INVOCATION_BUDGET_S = 780.0
SAFETY_MARGIN_S = 120.0
LEASE_S = 900.0  # below the queue's visibility timeout (960 s)
LEASE_SLACK_S = 30.0  # a lease outlives its invocation by this much, and no more


class Upload(UploadDeclaration):
    """The submitter's declaration from FileUploadReceived (its fields are typed once, in
    shared/events.py)."""

    @classmethod
    def from_event(cls, event: FileUploadReceived) -> Upload:
        return cls.model_validate(event.model_dump())

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class StagedPart:
    md5: str  # hex, of the staged (re-encrypted) part
    sha256: str


@dataclass
class Interrogation:
    object_key: str
    version: int | None = None  # None: not stored yet
    state: str = WAITING
    object_size: int | None = None  # set once the object was seen in the inbox
    upload: Upload | None = None  # set once FileUploadReceived was seen
    secret_id: str | None = None
    offset: int | None = None  # header length of the inbox object
    staged_object_id: str | None = None
    staging_upload_id: str | None = None
    staging_part_size: int | None = None
    parts: list[StagedPart] = field(default_factory=list)
    plain_size: int = 0
    hash_state: bytes | None = None
    reason: str | None = None
    outcome: dict[str, Any] | None = None  # payload of the outcome event, once decided
    deleted_by: str | None = None  # who asked for the deletion (tombstones only)
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.object_size is not None and self.upload is not None


class InterrogationRepository(Protocol):
    def get(self, object_key: str) -> Interrogation | None: ...

    def save(self, item: Interrogation) -> None:
        """Write if the stored version is still ``item.version`` (absent for None), then
        bump ``item.version``; shared.lease.StaleRecord otherwise."""
        ...


@dataclass(frozen=True)
class Settings:
    inbox_bucket: str
    staging_bucket: str
    max_staging_part_size: int = DEFAULT_MAX_PART_SIZE
    invocation_budget_s: float = INVOCATION_BUDGET_S
    max_parts_per_invocation: int = 0  # 0: no limit besides time
    safety_margin_s: float = SAFETY_MARGIN_S
    lease_s: float = LEASE_S


def staging_part_size(upload_part_size: int, max_part_size: int = DEFAULT_MAX_PART_SIZE) -> int:
    """The upload's part size on segment boundaries, within [MIN_PART_SIZE, max_part_size].

    Memory per invocation is a few times this size, hence the upper bound.
    """
    ceiling = max(MIN_PART_SIZE, max_part_size // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE)
    aligned = upload_part_size // CIPHER_SEGMENT_SIZE * CIPHER_SEGMENT_SIZE
    return min(max(aligned, MIN_PART_SIZE), ceiling)


class Invocation:
    """One handler run: the lease owner, and when to hand the rest of the file on."""

    def __init__(self, settings: Settings, remaining_ms: Callable[[], int] | None = None) -> None:
        self.owner = str(uuid.uuid4())
        self.parts_done = 0
        self._settings = settings
        self._remaining_ms = remaining_ms
        self._started = time.monotonic()

    def lease_seconds(self) -> float:
        limit = self._settings.lease_s
        if self._remaining_ms is not None:
            limit = min(limit, self._remaining_ms() / 1000)
        return limit + LEASE_SLACK_S

    def should_hand_on(self) -> bool:
        settings = self._settings
        if settings.max_parts_per_invocation and (
            self.parts_done >= settings.max_parts_per_invocation
        ):
            return True
        if time.monotonic() - self._started >= settings.invocation_budget_s:
            return True
        remaining = self._remaining_ms() if self._remaining_ms is not None else None
        return remaining is not None and remaining / 1000 < settings.safety_margin_s


@dataclass(frozen=True)
class Workshop:
    """What the streaming of a file works with, handed to it by the Interrogator: the
    ports, the policy, the checkpoint save (under the lease) and the tests' hook."""

    storage: ObjectStorage
    keys: KeyStore
    settings: Settings
    save: Callable[[Interrogation], None]
    after_part: Callable[[int], None] | None = None
