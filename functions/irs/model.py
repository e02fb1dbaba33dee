"""What IRS knows about one inbox object, and the repository port that keeps it.

One record per inbox object key joins the two halves of an upload (the S3 notification and
the FileUploadReceived event) and carries the checkpoint of a running interrogation. It never
holds a secret in the clear: the submitter's secret is stored only wrapped under the new
secret, which lives in the key store alone (see keystore.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.events import FileUploadReceived

WAITING = "waiting"  # one half of the upload seen, not both
RUNNING = "running"
COMPLETING = "completing"  # all parts staged and checked; finishing and publishing
FAILING = "failing"  # rejected; cleaning up and publishing
SUCCEEDED = "succeeded"
FAILED = "failed"
TERMINAL = frozenset({SUCCEEDED, FAILED})


@dataclass(frozen=True)
class Upload:
    """The submitter's declaration from FileUploadReceived."""

    file_id: str
    box_id: str
    object_id: str
    bucket: str
    decrypted_size: int
    encrypted_size: int
    part_size: int
    submitter_public_key: str
    decrypted_sha256: str

    @classmethod
    def from_event(cls, event: FileUploadReceived) -> Upload:
        return cls(**{name: getattr(event, name) for name in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


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
    wrapped_secret: str | None = None
    offset: int | None = None  # header length of the inbox object
    staged_object_id: str | None = None
    staging_upload_id: str | None = None
    staging_part_size: int | None = None
    parts: list[StagedPart] = field(default_factory=list)
    plain_size: int = 0
    hash_state: bytes | None = None
    reason: str | None = None
    outcome: dict[str, Any] | None = None  # payload of the outcome event, once decided
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.object_size is not None and self.upload is not None


class StaleRecord(Exception):
    """Someone else saved the record since it was read (version check failed)."""


class InterrogationRepository(Protocol):
    def get(self, object_key: str) -> Interrogation | None: ...

    def save(self, item: Interrogation) -> None:
        """Write if the stored version is still ``item.version`` (absent for None), then
        bump ``item.version``; StaleRecord otherwise."""
        ...
