"""In memory: UCS's UcsRepository (functions.ucs.model).

Faked at the level of the port's methods, with the conditions of the store's transactions:
a write whose condition does not hold changes nothing and raises StaleState, and the box's
counters move with the same ``counter_deltas`` the store applies. ``before_write`` lets a
test play the racer: it runs just before each conditional write and may change the state.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import datetime

from functions.ucs.errors import StaleState
from functions.ucs.model import (
    ACTIVE_STATES,
    BOX_DELETED,
    BOX_OPEN,
    CANCELLED,
    INBOX,
    INIT,
    RELEASED_STATES,
    TRANSITIONS,
    Box,
    Checksums,
    DeletionRequest,
    Move,
    Upload,
    counter_deltas,
)
from shared.events import ManifestRef


class InMemoryUcsRepository:
    """Boxes, uploads and alias claims by key; every write all or nothing."""

    def __init__(self) -> None:
        self.boxes: dict[str, Box] = {}
        self.uploads: dict[str, Upload] = {}
        self.aliases: dict[tuple[str, str], str] = {}  # (box, alias) -> file id
        self.before_write: Callable[[str], None] | None = None  # gets the method's name
        self.activity_writes = 0

    def _racer(self, method: str) -> None:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None  # once: the racer wins once
            hook(method)

    # ------------------------------------------------------------ boxes

    def add_box(self, box: Box) -> None:
        if box.id in self.boxes:
            raise ValueError(f"box {box.id} exists")
        self.boxes[box.id] = copy.deepcopy(box)

    def get_box(self, box_id: str) -> Box | None:
        return copy.deepcopy(self.boxes.get(box_id))

    def set_box_status(self, box_id: str, status: str, now: datetime) -> None:
        self._racer("set_box_status")
        box = self.boxes.get(box_id)
        if box is None or box.status == BOX_DELETED:
            raise StaleState(box_id)
        if status == BOX_DELETED and (box.counts[INIT] or box.counts[INBOX]):
            raise StaleState(box_id)
        box.status, box.updated = status, now

    def set_box_shared(self, box_id: str, shared: bool, now: datetime) -> None:
        box = self.boxes.get(box_id)
        if box is None or box.status == BOX_DELETED:
            raise StaleState(box_id)
        box.shared, box.updated = shared, now

    # ------------------------------------------------------------ uploads

    def get_upload(self, file_id: str) -> Upload | None:
        return copy.deepcopy(self.uploads.get(file_id))

    def alias_holder(self, box_id: str, alias: str) -> str | None:
        return self.aliases.get((box_id, alias))

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
        self._racer("create_upload")
        moves: list[Move] = [(None, upload.state, upload.encrypted_size)]
        if replacing is not None:
            moves.append((replacing.state, CANCELLED, replacing.encrypted_size))
        deltas = counter_deltas(moves)
        box = self.boxes.get(upload.box_id)
        claim = (upload.box_id, upload.alias)
        stale = (
            upload.id in self.uploads
            or self.aliases.get(claim) != claim_holder
            or (replacing is not None and self._state(replacing.id) != replacing.state)
            or (
                replacing is not None
                and replacing_deletion is not None
                and self.uploads[replacing.id].deletion_requested is not None
            )
            or box is None
            or box.status != BOX_OPEN
            or (deltas.get(INIT, 0) > 0 and box.counts[INIT] > max_open - deltas[INIT])
            or (
                deltas.get("used_size", 0) > 0
                and box.used_size > box_max_size - deltas["used_size"]
            )
        )
        if stale or box is None:
            raise StaleState(upload.id)
        self.uploads[upload.id] = dataclasses.replace(upload, received_published=False)
        self.aliases[claim] = upload.id
        if replacing is not None:
            replaced = self._set_state(
                replacing.id, CANCELLED, upload.created, "replaced by a new upload"
            )
            if replacing_deletion is not None:
                self._record_deletion(replaced, replacing_deletion)
        self._count(box, deltas, upload.created)

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
        if to not in TRANSITIONS[upload.state]:
            raise ValueError(f"no transition from {upload.state} to {to}")
        self._racer("transition")
        box = self.boxes.get(upload.box_id)
        claim = (upload.box_id, upload.alias)
        releases = upload.state in ACTIVE_STATES and to in RELEASED_STATES
        if (
            self._state(upload.id) != upload.state
            or box is None
            or (require_open_box and box.status != BOX_OPEN)
            or (releases and self.aliases.get(claim) != upload.id)
            or (deletion is not None and self.uploads[upload.id].deletion_requested is not None)
        ):
            raise StaleState(upload.id)
        stored = self._set_state(upload.id, to, now, reason)
        if deletion is not None:
            self._record_deletion(stored, deletion)
        if checksums is not None:
            stored.decrypted_sha256 = checksums.decrypted_sha256
            stored.encrypted_md5 = checksums.encrypted_md5
            stored.encrypted_parts_digest = checksums.parts_digest()
            stored.received_published = False
        if parts_manifest is not None:
            stored.parts_manifest_sha256 = parts_manifest.sha256
            stored.parts_manifest_size = parts_manifest.size
        if submitter_public_key is not None:
            stored.submitter_public_key = submitter_public_key
        self._count(box, counter_deltas([(upload.state, to, upload.encrypted_size)]), now)
        if releases:
            del self.aliases[claim]

    def mark_received_published(self, file_id: str) -> None:
        stored = self.uploads.get(file_id)
        if stored is not None and stored.state == INBOX:
            stored.received_published = True

    def record_activity(self, file_id: str, now: datetime, stale_before: datetime) -> None:
        self.activity_writes += 1  # attempted writes: what a part URL costs
        stored = self.uploads.get(file_id)
        if stored is None or stored.state != INIT:
            return
        if stored.last_activity is None or stored.last_activity < stale_before:
            stored.last_activity = now

    def unannounced_uploads(self, closed_before: datetime) -> list[Upload]:
        def due(u: Upload) -> bool:
            return u.state == INBOX and not u.received_published and u.updated < closed_before

        return copy.deepcopy(self._ordered(due))

    def record_deletion_confirmation(self, file_id: str, service: str, removed: list[str]) -> None:
        self._racer("record_deletion_confirmation")
        stored = self.uploads.get(file_id)
        if (
            stored is None
            or stored.deletion_requested is None
            or service in stored.deletion_confirmations
        ):
            raise StaleState(file_id)
        stored.deletion_confirmations[service] = list(removed)

    def mark_file_deleted(self, file_id: str, now: datetime) -> None:
        stored = self.uploads.get(file_id)
        if stored is not None and stored.deletion_requested is not None:
            stored.file_deleted_published = stored.file_deleted_published or now

    def list_uploads(
        self, box_id: str, skip: int, limit: int, created_by: str | None = None
    ) -> tuple[list[Upload], int]:
        found = self._ordered(
            lambda u: u.box_id == box_id and (created_by is None or u.created_by == created_by)
        )
        return copy.deepcopy(found[skip : skip + limit]), len(found)

    def uploads_in_state_before(self, state: str, cutoff: datetime) -> list[Upload]:
        return copy.deepcopy(self._ordered(lambda u: u.state == state and u.created < cutoff))

    # ------------------------------------------------------------ helpers

    def _state(self, file_id: str) -> str | None:
        stored = self.uploads.get(file_id)
        return None if stored is None else stored.state

    def _set_state(self, file_id: str, to: str, now: datetime, reason: str | None) -> Upload:
        stored = self.uploads[file_id]
        if to == CANCELLED:
            stored.cancelled_from = stored.state
        stored.state, stored.updated, stored.state_reason = to, now, reason or None
        return stored

    @staticmethod
    def _record_deletion(stored: Upload, deletion: DeletionRequest) -> None:
        stored.deletion_requested = deletion.requested
        stored.deletion_requested_by = deletion.requested_by
        stored.deletion_reason = deletion.reason
        stored.deletion_confirmations = {}

    def _ordered(self, keep: Callable[[Upload], bool]) -> list[Upload]:
        chosen = [u for u in self.uploads.values() if keep(u)]
        return sorted(chosen, key=lambda u: (u.created, u.id))

    @staticmethod
    def _count(box: Box, deltas: dict[str, int], now: datetime) -> None:
        for name, delta in deltas.items():
            if name == "used_size":
                box.used_size += delta
            else:
                box.counts[name] = box.counts.get(name, 0) + delta
        box.updated = now
