"""UCS's tables (pynamodb) and its repository on them: every state change is one conditional
transaction.

``boxes`` holds the boxes with their counters; ``uploads`` holds the uploads and one alias
claim per active alias (``UploadAliasRecord``, id ``alias#<box>#<alias>``). Claims carry
none of the index keys, so the indexes never see them; a conditional put on a claim is
what makes an alias unique within a box.

An upload's state, its alias claim and its box's counters change together, so that two
racing calls (two closes, close against delete, two creates of one alias, a create
against a lock) cannot both win, and the box's counters never drift.

``serialize_writes`` is for the embedded stack only: moto's DynamoDB evaluates conditions
and applies transactions without a lock, and rolls a failed transaction back by restoring
a copy of the whole table taken when it started, which loses writes made meanwhile by
concurrent requests. DynamoDB itself needs no such lock.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.ucs.errors import StaleState
from functions.ucs.model import (
    ACTIVE_STATES,
    BOX_DELETED,
    BOX_OPEN,
    CANCELLED,
    INBOX,
    INIT,
    RELEASED_STATES,
    STATES,
    TRANSITIONS,
    Box,
    Checksums,
    DeletionRequest,
    Move,
    Upload,
    counter_deltas,
)
from shared.adapters.dynamo import entity_from, lost_condition, record_from
from shared.events import ManifestRef

# ------------------------------------------------------------------ records


class BoxRecord(Model):
    class Meta:
        table_name = "boxes"  # bound at start-up from the declaration

    id = UnicodeAttribute(hash_key=True)
    max_size = NumberAttribute()
    status = UnicodeAttribute()  # open | locked | deleted
    description = UnicodeAttribute(null=True)
    shared = BooleanAttribute(default=False)  # absent on boxes made before: private
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    # kept exact by the same transactions that change upload states
    used_size = NumberAttribute(default=0)
    n_init = NumberAttribute(default=0)
    n_inbox = NumberAttribute(default=0)
    n_interrogated = NumberAttribute(default=0)
    n_failed = NumberAttribute(default=0)
    n_cancelled = NumberAttribute(default=0)
    n_registered = NumberAttribute(default=0)
    n_deleted = NumberAttribute(default=0)


class ByBoxIndex(GlobalSecondaryIndex["UploadRecord"]):
    """A box's uploads in creation order (the listing)."""

    class Meta:
        index_name = "by_box"
        projection = AllProjection()

    box_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class ByStateIndex(GlobalSecondaryIndex["UploadRecord"]):
    """Uploads per state in creation order (the clean-up of abandoned uploads)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class UploadRecord(Model):
    class Meta:
        table_name = "uploads"  # bound at start-up from the declaration

    id = UnicodeAttribute(hash_key=True)
    box_id = UnicodeAttribute()
    alias = UnicodeAttribute()
    decrypted_size = NumberAttribute()
    encrypted_size = NumberAttribute()
    part_size = NumberAttribute()
    state = UnicodeAttribute()
    state_reason = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    sort_key = UnicodeAttribute()  # "<created, ISO>#<id>": creation order, ties broken
    s3_upload_id = UnicodeAttribute()
    object_id = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    part_checksum = UnicodeAttribute(null=True)  # the wire extension's part checksum
    cancelled_from = UnicodeAttribute(null=True)
    submitter_public_key = UnicodeAttribute(null=True)
    decrypted_sha256 = UnicodeAttribute(null=True)
    encrypted_md5 = UnicodeAttribute(null=True)
    encrypted_parts_digest = UnicodeAttribute(null=True)
    # the manifest of the declared part checksums (its list lives in S3, never here)
    parts_manifest_sha256 = UnicodeAttribute(null=True)
    parts_manifest_size = NumberAttribute(null=True)
    received_published = BooleanAttribute(default=False)
    last_activity = UTCDateTimeAttribute(null=True)  # written at most hourly (model.py)
    # the purge (Upload's deletion fields); confirmations: service -> what it removed
    deletion_requested = UTCDateTimeAttribute(null=True)
    deletion_requested_by = UnicodeAttribute(null=True)
    deletion_reason = UnicodeAttribute(null=True)
    deletion_confirmations = MapAttribute(null=True)  # type: ignore[var-annotated]
    file_deleted_published = UTCDateTimeAttribute(null=True)

    by_box = ByBoxIndex()
    by_state = ByStateIndex()


class UploadAliasRecord(Model):
    """Which upload holds an alias of a box; stored in the ``uploads`` table."""

    class Meta:
        table_name = "uploads"  # bound to the same table as UploadRecord

    id = UnicodeAttribute(hash_key=True)
    file_id = UnicodeAttribute()

    @staticmethod
    def key(box_id: str, alias: str) -> str:
        return f"alias#{box_id}#{alias}"


# ------------------------------------------------------------------ the repository


def sort_key(created: datetime, file_id: str) -> str:
    return f"{created.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{file_id}"


def _counter(state: str) -> Any:
    return getattr(BoxRecord, f"n_{state}")


def _box_actions(deltas: dict[str, int], now: datetime) -> list[Any]:
    """ADD actions for the non-zero counter deltas (one action per attribute)."""
    actions: list[Any] = [BoxRecord.updated.set(now)]
    for name, delta in deltas.items():
        if delta:
            attribute = BoxRecord.used_size if name == "used_size" else _counter(name)
            actions.append(attribute.add(delta))
    return actions


def _counters(counts: dict[str, int]) -> dict[str, int]:
    return {f"n_{state}": counts.get(state, 0) for state in STATES}


def _box(record: BoxRecord) -> Box:
    counts = {state: int(getattr(record, f"n_{state}") or 0) for state in STATES}
    return entity_from(record, Box, used_size=int(record.used_size or 0), counts=counts)


def _upload(record: UploadRecord) -> Upload:
    confirmations = record.deletion_confirmations
    return entity_from(
        record,
        Upload,
        received_published=bool(record.received_published),
        deletion_confirmations={
            service: list(removed)
            for service, removed in (confirmations.as_dict() if confirmations else {}).items()
        },
    )


def _record(upload: Upload) -> UploadRecord:
    """A new upload's record; the sort key orders a box's (and a state's) uploads."""
    return record_from(
        upload,
        UploadRecord,
        sort_key=sort_key(upload.created, upload.id),
        deletion_confirmations=None,  # a new upload has no purge
    )


def _deletion_actions(deletion: DeletionRequest) -> list[Any]:
    """Record a purge request (the write's condition: none was recorded before)."""
    return [
        UploadRecord.deletion_requested.set(deletion.requested),
        UploadRecord.deletion_requested_by.set(deletion.requested_by),
        UploadRecord.deletion_reason.set(deletion.reason),
        UploadRecord.deletion_confirmations.set({}),
    ]


class DynamoUcsRepository:
    """UcsRepository on DynamoDB."""

    def __init__(self, serialize_writes: bool = False) -> None:
        self._connection: Connection | None = None
        self._write_lock: Any = threading.Lock() if serialize_writes else contextlib.nullcontext()

    def _tx(self) -> TransactWrite:
        if self._connection is None:
            self._connection = Connection(region=BoxRecord.Meta.region, host=BoxRecord.Meta.host)
        return TransactWrite(connection=self._connection)

    # ------------------------------------------------------------ boxes

    def add_box(self, box: Box) -> None:
        record = record_from(box, BoxRecord, **_counters(box.counts))
        with self._write_lock:
            record.save(condition=BoxRecord.id.does_not_exist())

    def get_box(self, box_id: str) -> Box | None:
        try:
            return _box(BoxRecord.get(box_id, consistent_read=True))
        except BoxRecord.DoesNotExist:
            return None

    def set_box_status(self, box_id: str, status: str, now: datetime) -> None:
        condition = BoxRecord.id.exists() & (BoxRecord.status != BOX_DELETED)
        if status == BOX_DELETED:
            condition &= (BoxRecord.n_init == 0) & (BoxRecord.n_inbox == 0)
        try:
            with self._write_lock:
                BoxRecord(id=box_id).update(
                    actions=[BoxRecord.status.set(status), BoxRecord.updated.set(now)],
                    condition=condition,
                )
        except UpdateError as error:
            if lost_condition(error):
                raise StaleState(box_id) from error
            raise

    def set_box_shared(self, box_id: str, shared: bool, now: datetime) -> None:
        try:
            with self._write_lock:
                BoxRecord(id=box_id).update(
                    actions=[BoxRecord.shared.set(shared), BoxRecord.updated.set(now)],
                    condition=BoxRecord.id.exists() & (BoxRecord.status != BOX_DELETED),
                )
        except UpdateError as error:
            if lost_condition(error):
                raise StaleState(box_id) from error
            raise

    # ------------------------------------------------------------ uploads

    def get_upload(self, file_id: str) -> Upload | None:
        try:
            record = UploadRecord.get(file_id, consistent_read=True)
        except UploadRecord.DoesNotExist:
            return None
        return _upload(record)

    def alias_holder(self, box_id: str, alias: str) -> str | None:
        try:
            claim = UploadAliasRecord.get(
                UploadAliasRecord.key(box_id, alias), consistent_read=True
            )
        except UploadAliasRecord.DoesNotExist:
            return None
        return claim.file_id

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
        moves: list[Move] = [(None, upload.state, upload.encrypted_size)]
        if replacing is not None:
            moves.append((replacing.state, CANCELLED, replacing.encrypted_size))
        deltas = counter_deltas(moves)
        box_condition: Condition = BoxRecord.status == BOX_OPEN
        if deltas.get(INIT, 0) > 0:
            box_condition &= BoxRecord.n_init <= max_open - deltas[INIT]
        if deltas.get("used_size", 0) > 0:
            # max_size never changes after creation, so the value read earlier is the limit
            box_condition &= BoxRecord.used_size <= box_max_size - deltas["used_size"]
        claim_key = UploadAliasRecord.key(upload.box_id, upload.alias)
        try:
            with self._write_lock, self._tx() as tx:
                tx.save(_record(upload), condition=UploadRecord.id.does_not_exist())
                if claim_holder is None:
                    tx.save(
                        UploadAliasRecord(id=claim_key, file_id=upload.id),
                        condition=UploadAliasRecord.id.does_not_exist(),
                    )
                else:
                    tx.update(
                        UploadAliasRecord(id=claim_key),
                        actions=[UploadAliasRecord.file_id.set(upload.id)],
                        condition=UploadAliasRecord.file_id == claim_holder,
                    )
                if replacing is not None:
                    actions = self._state_actions(
                        replacing, CANCELLED, upload.created, "replaced by a new upload"
                    )
                    condition: Condition = UploadRecord.state == replacing.state
                    if replacing_deletion is not None:
                        actions += _deletion_actions(replacing_deletion)
                        condition &= UploadRecord.deletion_requested.does_not_exist()
                    tx.update(UploadRecord(id=replacing.id), actions=actions, condition=condition)
                tx.update(
                    BoxRecord(id=upload.box_id),
                    actions=_box_actions(deltas, upload.created),
                    condition=box_condition,
                )
        except TransactWriteError as error:
            if lost_condition(error):
                raise StaleState(upload.id) from error
            raise

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
        actions = self._state_actions(upload, to, now, reason)
        upload_condition: Condition = UploadRecord.state == upload.state
        if deletion is not None:
            actions += _deletion_actions(deletion)
            upload_condition &= UploadRecord.deletion_requested.does_not_exist()
        if checksums is not None:
            actions += [
                UploadRecord.decrypted_sha256.set(checksums.decrypted_sha256),
                UploadRecord.encrypted_md5.set(checksums.encrypted_md5),
                UploadRecord.encrypted_parts_digest.set(checksums.parts_digest()),
                UploadRecord.received_published.set(False),
            ]
        if parts_manifest is not None:
            actions += [
                UploadRecord.parts_manifest_sha256.set(parts_manifest.sha256),
                UploadRecord.parts_manifest_size.set(parts_manifest.size),
            ]
        if submitter_public_key is not None:
            actions.append(UploadRecord.submitter_public_key.set(submitter_public_key))
        deltas = counter_deltas([(upload.state, to, upload.encrypted_size)])
        box_condition: Condition = BoxRecord.id.exists()
        if require_open_box:
            box_condition &= BoxRecord.status == BOX_OPEN
        try:
            with self._write_lock, self._tx() as tx:
                tx.update(UploadRecord(id=upload.id), actions=actions, condition=upload_condition)
                tx.update(
                    BoxRecord(id=upload.box_id),
                    actions=_box_actions(deltas, now),
                    condition=box_condition,
                )
                if upload.state in ACTIVE_STATES and to in RELEASED_STATES:
                    tx.delete(
                        UploadAliasRecord(id=UploadAliasRecord.key(upload.box_id, upload.alias)),
                        condition=UploadAliasRecord.file_id == upload.id,
                    )
        except TransactWriteError as error:
            if lost_condition(error):
                raise StaleState(upload.id) from error
            raise

    def mark_received_published(self, file_id: str) -> None:
        try:
            with self._write_lock:
                UploadRecord(id=file_id).update(
                    actions=[UploadRecord.received_published.set(True)],
                    condition=UploadRecord.state == INBOX,
                )
        except UpdateError as error:
            if not lost_condition(error):
                raise

    def record_activity(self, file_id: str, now: datetime, stale_before: datetime) -> None:
        stale = UploadRecord.last_activity.does_not_exist() | (
            UploadRecord.last_activity < stale_before
        )
        try:
            with self._write_lock:
                UploadRecord(id=file_id).update(
                    actions=[UploadRecord.last_activity.set(now)],
                    condition=(UploadRecord.state == INIT) & stale,
                )
        except UpdateError as error:
            if not lost_condition(error):
                raise

    def record_deletion_confirmation(self, file_id: str, service: str, removed: list[str]) -> None:
        confirmed = UploadRecord.deletion_confirmations[service]
        try:
            with self._write_lock:
                UploadRecord(id=file_id).update(
                    actions=[confirmed.set(list(removed))],
                    condition=UploadRecord.deletion_requested.exists() & confirmed.does_not_exist(),
                )
        except UpdateError as error:
            if lost_condition(error):
                raise StaleState(file_id) from error
            raise

    def mark_file_deleted(self, file_id: str, now: datetime) -> None:
        try:
            with self._write_lock:
                UploadRecord(id=file_id).update(
                    actions=[UploadRecord.file_deleted_published.set(now)],
                    condition=UploadRecord.deletion_requested.exists()
                    & UploadRecord.file_deleted_published.does_not_exist(),
                )
        except UpdateError as error:
            if not lost_condition(error):
                raise

    def list_uploads(
        self, box_id: str, skip: int, limit: int, created_by: str | None = None
    ) -> tuple[list[Upload], int]:
        mine = None if created_by is None else UploadRecord.created_by == created_by
        total = UploadRecord.by_box.count(box_id, filter_condition=mine)
        items: list[Upload] = []
        for index, record in enumerate(UploadRecord.by_box.query(box_id, filter_condition=mine)):
            if index < skip:
                continue
            if len(items) >= limit:
                break
            items.append(_upload(record))
        return items, total

    def uploads_in_state_before(self, state: str, cutoff: datetime) -> list[Upload]:
        bound = sort_key(cutoff, "")
        return [
            _upload(record)
            for record in UploadRecord.by_state.query(state, UploadRecord.sort_key < bound)
        ]

    def unannounced_uploads(self, closed_before: datetime) -> list[Upload]:
        # created before it was closed, so the index's range narrows the query; the filter
        # leaves the few whose event is still to go out
        unpublished = UploadRecord.received_published == False  # noqa: E712 (an expression)
        return [
            _upload(record)
            for record in UploadRecord.by_state.query(
                INBOX,
                UploadRecord.sort_key < sort_key(closed_before, ""),
                filter_condition=unpublished & (UploadRecord.updated < closed_before),
            )
        ]

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _state_actions(upload: Upload, to: str, now: datetime, reason: str | None) -> list[Any]:
        actions: list[Any] = [UploadRecord.state.set(to), UploadRecord.updated.set(now)]
        actions.append(
            UploadRecord.state_reason.set(reason) if reason else UploadRecord.state_reason.remove()
        )
        if to == CANCELLED:
            actions.append(UploadRecord.cancelled_from.set(upload.state))
        return actions
