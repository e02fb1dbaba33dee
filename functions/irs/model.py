"""What IRS knows about one inbox object, its policy, and the ports it works through.

One record per inbox object key joins the two halves of an upload (the S3 notification and
the FileUploadReceived event) and carries the checkpoint of a running interrogation. It never
holds a secret: every turn gets both secrets of the file from the key store again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.events import FileUploadReceived, UploadDeclaration
from shared.invocation import (  # noqa: F401  (re-exported: the service's policy)
    INVOCATION_BUDGET_S,
    LEASE_SLACK_S,
    SAFETY_MARGIN_S,
    Invocation,
)
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
DEFAULT_MEMORY_MB = 4096  # the function's (shared/resources.py); config.py follows Lambda's
LEASE_S = 900.0  # below the queue's visibility timeout (960 s)


class Upload(UploadDeclaration):
    """The submitter's declaration from FileUploadReceived (its fields are typed once, in
    shared/events.py), the manifest of its declared part checksums included."""

    @classmethod
    def from_event(cls, event: FileUploadReceived) -> Upload:
        return cls.model_validate(event.model_dump())

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class StagedPart:
    """One staged part's checksums: an item of its own (never a list in the record, which
    would outgrow DynamoDB's item limit at a few thousand parts)."""

    number: int  # 1-based
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
    parts_staged: int = 0  # parts 1..parts_staged are staged, each with its StagedPart item
    plain_size: int = 0
    hash_state: bytes | None = None  # of the plaintext so far
    # of the inbox bytes read so far in the upload part the checkpoint lies in (declared.py)
    parts_hash_state: bytes | None = None
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

    def checkpoint(self, item: Interrogation, part: StagedPart) -> None:
        """Store one staged part's checksums and save ``item`` (as ``save``) at once: both
        or neither (idempotent for the part: a re-staged part has the same bytes, so the
        same item)."""
        ...

    def parts(self, object_key: str) -> list[StagedPart]:
        """Every stored part of the object, in part order (read page by page)."""
        ...

    def delete_parts(self, object_key: str) -> int:
        """Remove every part item of the object (idempotent); how many there were."""
        ...


# the deployed floor of the staged part size (sizing.py says why)
DEFAULT_MIN_STAGING_PART_SIZE = 64 * 1024**2


@dataclass(frozen=True)
class Settings:
    inbox_bucket: str
    staging_bucket: str
    # the staged part size follows from the memory (sizing.py); None: no lower cap than that
    memory_mb: int = DEFAULT_MEMORY_MB
    max_staging_part_size: int | None = None
    # staged parts are at least this large (where the memory allows): fewer requests and
    # checkpoints per GiB than parts of the upload's size. 0 (here) keeps the upload's part
    # size; deployments get DEFAULT_MIN_STAGING_PART_SIZE from config.py
    min_staging_part_size: int = 0
    invocation_budget_s: float = INVOCATION_BUDGET_S
    max_parts_per_invocation: int = 0  # 0: no limit besides time
    safety_margin_s: float = SAFETY_MARGIN_S
    lease_s: float = LEASE_S


@dataclass(frozen=True)
class Workshop:
    """What the streaming of a file works with, handed to it by the Interrogator: the
    ports, the policy, the checkpoint save (under the lease), the part items and the tests'
    hook."""

    storage: ObjectStorage
    keys: KeyStore
    settings: Settings
    save: Callable[[Interrogation], None]
    checkpoint: Callable[[Interrogation, StagedPart], None]  # a part's item, and the save
    repository: InterrogationRepository  # for the part items (the record: ``save``)
    after_part: Callable[[int], None] | None = None
