"""UCS's domain: boxes, file uploads, their states, the box counters, and the repository port.

Nothing here knows about HTTP, DynamoDB or S3; the core, the store and the wire share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from shared.events import ManifestRef
from shared.multipart import part_count

# ------------------------------------------------------------------ states

INIT: Final = "init"  # multipart upload open in the inbox
INBOX: Final = "inbox"  # closed; awaiting interrogation
INTERROGATED: Final = "interrogated"  # accepted by interrogation
FAILED: Final = "failed"  # rejected by interrogation (state_reason says why)
CANCELLED: Final = "cancelled"  # deleted by the submitter, replaced, or abandoned
REGISTERED: Final = "registered"  # registered in permanent storage
DELETED: Final = "deleted"  # purged by the operator (docs/deletion.md); terminal

STATES: Final = (INIT, INBOX, INTERROGATED, FAILED, CANCELLED, REGISTERED, DELETED)
# an upload in an active state holds its alias and counts towards the box's used size
ACTIVE_STATES: Final = frozenset({INIT, INBOX, INTERROGATED, REGISTERED})
RELEASED_STATES: Final = frozenset({CANCELLED, FAILED, DELETED})
# every transition UCS (its routes, its event consumer, its clean-up) may make; anything
# else is a bug. The operator's purge reaches ``deleted`` from every other state.
TRANSITIONS: Final = {
    INIT: frozenset({INBOX, CANCELLED, DELETED}),
    INBOX: frozenset({CANCELLED, INTERROGATED, FAILED, DELETED}),
    INTERROGATED: frozenset({REGISTERED, DELETED}),
    FAILED: frozenset({DELETED}),
    CANCELLED: frozenset({DELETED}),
    REGISTERED: frozenset({DELETED}),
    DELETED: frozenset(),
}

# a move of one upload: (from state, or None for a new upload; to state; encrypted size)
Move = tuple[str | None, str, int]


def counter_deltas(moves: list[Move]) -> dict[str, int]:
    """How the box's counters change (per state, and ``used_size``) when uploads move.

    Kept exact by the same writes that change upload states, so the box never drifts.
    """
    deltas: dict[str, int] = {}
    for old, new, size in moves:
        if old is not None:
            deltas[old] = deltas.get(old, 0) - 1
            if old in ACTIVE_STATES:
                deltas["used_size"] = deltas.get("used_size", 0) - size
        deltas[new] = deltas.get(new, 0) + 1
        if new in ACTIVE_STATES:
            deltas["used_size"] = deltas.get("used_size", 0) + size
    return deltas


# a part URL or a resume listing is a sign of life of an open upload; it is recorded on the
# upload at most this often, so that the writes do not grow with the part count
ACTIVITY_RESOLUTION: Final = timedelta(hours=1)

# the wire extension (docs/checksums.md): parts carry their SHA-256, signed into each part URL
# and verified by S3, in place of GHGA's per-part MD5 (None on an upload: GHGA's MD5 path)
PART_CHECKSUM_SHA256: Final = "sha256"
PART_CHECKSUMS: Final = (PART_CHECKSUM_SHA256,)

BOX_OPEN: Final = "open"
BOX_LOCKED: Final = "locked"
BOX_DELETED: Final = "deleted"

# ------------------------------------------------------------------ entities


@dataclass
class Box:
    id: str
    max_size: int
    status: str
    created: datetime
    updated: datetime
    description: str | None = None
    # every submitter of the box acts on every upload in it; private (False): each on their
    # own only (functions/ucs/boxes.py)
    shared: bool = False
    used_size: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def locked(self) -> bool:
        return self.status == BOX_LOCKED

    @property
    def open_uploads(self) -> int:
        return self.counts.get(INIT, 0)

    @property
    def active_uploads(self) -> int:
        return sum(self.counts.get(state, 0) for state in ACTIVE_STATES)


@dataclass(frozen=True)
class Checksums:
    """What the submitter declares at close; lowercase hex throughout. An upload with
    part checksums (PART_CHECKSUM_SHA256) declares no md5s: S3 verified each part's SHA-256,
    and the object's ETag is S3's."""

    decrypted_sha256: str
    encrypted_md5: str | None  # S3 multipart ETag style: "<md5 of md5s>-<N>"
    encrypted_parts_md5: list[str] | None
    encrypted_parts_sha256: list[str]

    def parts_digest(self) -> str:
        """One sha256 over both part lists: what a repeated close is compared against.

        The lists themselves can hold 10,000 entries each, more than a DynamoDB item takes.
        """
        md5s = ",".join(self.encrypted_parts_md5 or [])
        text = md5s + "|" + ",".join(self.encrypted_parts_sha256)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Upload:
    id: str
    box_id: str
    alias: str
    decrypted_size: int
    encrypted_size: int
    part_size: int
    state: str
    created: datetime
    updated: datetime
    s3_upload_id: str
    object_id: str
    state_reason: str | None = None
    created_by: str | None = None
    # PART_CHECKSUM_SHA256: the multipart upload verifies each part's SHA-256 (the wire
    # extension); None: GHGA's per-part MD5s
    part_checksum: str | None = None
    cancelled_from: str | None = None
    submitter_public_key: str | None = None
    decrypted_sha256: str | None = None
    encrypted_md5: str | None = None
    encrypted_parts_digest: str | None = None
    # the manifest of the declared part checksums (manifests/<object_id>.json in the
    # inbox), written before the move to ``inbox``: the SHA-256 and length of its bytes,
    # so that FileUploadReceived can be rebuilt from the record alone
    parts_manifest_sha256: str | None = None
    parts_manifest_size: int | None = None
    # FileUploadReceived went out (the clean-up publishes it for a close that died first)
    received_published: bool = False
    # the last part URL or resume listing handed out (at most ACTIVITY_RESOLUTION stale)
    last_activity: datetime | None = None
    # the purge of the file (docs/deletion.md): who asked, when and why; which holders
    # confirmed (service -> what it removed, in words); when FileDeleted went out
    deletion_requested: datetime | None = None
    deletion_requested_by: str | None = None
    deletion_reason: str | None = None
    deletion_confirmations: dict[str, list[str]] = field(default_factory=dict)
    file_deleted_published: datetime | None = None

    @property
    def part_count(self) -> int:
        return part_count(self.encrypted_size, self.part_size)

    @property
    def last_seen(self) -> datetime:
        """When the upload last showed life as UCS saw it (the parts in S3 may be newer)."""
        if self.last_activity is None:
            return self.created
        return max(self.created, self.last_activity)

    def closed_with(self, checksums: Checksums) -> bool:
        """Whether a close repeats the one recorded (without md5s, the recorded ETag is
        S3's, not declared)."""
        return (
            self.decrypted_sha256 == checksums.decrypted_sha256
            and checksums.encrypted_md5 in (None, self.encrypted_md5)
            and self.encrypted_parts_digest == checksums.parts_digest()
        )


@dataclass(frozen=True)
class DeletionRequest:
    """A purge of a file, as recorded on its upload with the state change it comes with."""

    requested: datetime
    requested_by: str  # "operator", or the submitter's user id
    reason: str = ""


@dataclass(frozen=True)
class NewUpload:
    """What a submitter asks for when starting an upload."""

    alias: str
    decrypted_size: int
    encrypted_size: int
    part_size: int
    overwrite: bool = False
    part_checksum: str | None = None  # PART_CHECKSUM_SHA256: the wire extension


# ------------------------------------------------------------------ the repository port


class UcsRepository(Protocol):
    def add_box(self, box: Box) -> None: ...
    def get_box(self, box_id: str) -> Box | None: ...
    def set_box_status(self, box_id: str, status: str, now: datetime) -> None:
        """Lock, unlock or delete; deleting requires no upload in init or inbox."""
        ...

    def set_box_shared(self, box_id: str, shared: bool, now: datetime) -> None:
        """Make a box shared or private; StaleState if it is deleted or unknown."""
        ...

    def get_upload(self, file_id: str) -> Upload | None: ...
    def alias_holder(self, box_id: str, alias: str) -> str | None:
        """The id of the upload that holds ``alias`` in the box (active state), if any."""
        ...

    def create_upload(
        self,
        upload: Upload,
        *,
        box_max_size: int,
        max_open: int,
        replacing: Upload | None,
        claim_holder: str | None,
        replacing_deletion: DeletionRequest | None = None,
    ) -> None:
        """Atomically: add the upload, claim its alias, count it in its box, cancel
        ``replacing`` (recording ``replacing_deletion`` on it, if given). Raises
        errors.StaleState if the box, alias or replaced upload changed."""
        ...

    def transition(
        self,
        upload: Upload,
        to: str,
        *,
        now: datetime,
        reason: str | None = None,
        require_open_box: bool = False,
        checksums: Checksums | None = None,
        submitter_public_key: str | None = None,
        deletion: DeletionRequest | None = None,
        parts_manifest: ManifestRef | None = None,
    ) -> None:
        """Move ``upload`` from its current state to ``to`` if nobody else moved it first;
        with ``deletion``, record the purge request too (only if none was recorded yet);
        with ``checksums`` (a close), record them, ``parts_manifest``'s digest and size, and
        that FileUploadReceived is still to be published."""
        ...

    def mark_received_published(self, file_id: str) -> None: ...
    def record_activity(self, file_id: str, now: datetime, stale_before: datetime) -> None:
        """Set the upload's last_activity to ``now`` if it is open and its last_activity is
        unset or before ``stale_before`` (a conditional write; a lost condition is no error)."""
        ...

    def unannounced_uploads(self, closed_before: datetime) -> list[Upload]:
        """Uploads in ``inbox`` closed before ``closed_before`` whose FileUploadReceived has
        not been recorded as published (the outbox the clean-up sweeps)."""
        ...

    def record_deletion_confirmation(self, file_id: str, service: str, removed: list[str]) -> None:
        """Add ``service``'s confirmation to the upload's purge; StaleState unless a purge
        was requested and ``service`` has not confirmed it yet."""
        ...

    def mark_file_deleted(self, file_id: str, now: datetime) -> None:
        """Record when FileDeleted was published (the first time counts; idempotent)."""
        ...

    def list_uploads(
        self, box_id: str, skip: int, limit: int, created_by: str | None = None
    ) -> tuple[list[Upload], int]:
        """A page of the box's uploads in creation order, and how many there are; with
        ``created_by``, only that submitter's."""
        ...

    def uploads_in_state_before(self, state: str, cutoff: datetime) -> list[Upload]: ...
