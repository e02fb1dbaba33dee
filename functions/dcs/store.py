"""DCS's table ``drs_objects`` (pynamodb) and the DrsRepository on it.

One item per downloadable file (``DrsObjectRecord``), and in the same table the envelopes
handed out so far (``EnvelopeRecord``, id ``envelope#<file>#<secret>#<reader key>``), which
carry none of the index keys. The ``by_state`` index lists staged files by last access, for
the clean-up of the outbox. Every state change is a conditional update, so that concurrent
requests agree on one winner.

A file's envelopes are found through its object: the envelope and its key in the object's
``envelopes`` set are written in one transaction, on condition that the object is not a
tombstone. So a deletion that reads the set after writing its tombstone finds every
envelope there will ever be, without a scan, and an envelope request racing it stores
nothing. (Envelopes kept before the set existed are not in it: see ``drop_envelopes``.)
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.dcs.errors import EventsDown
from functions.dcs.model import DELETED, REGISTERED, STAGED, STAGING, DrsObject
from shared.adapters.dynamo import entity_from, lost_condition, record_from

_ENVELOPE_PREFIX = "envelope#"
_AUDIT_PREFIX = "audit#"
_NOT_FILES = (_ENVELOPE_PREFIX, _AUDIT_PREFIX)  # ids of the other items in the table


class ByStateIndex(GlobalSecondaryIndex["DrsObjectRecord"]):
    """Files per state by last access (only files accessed at least once are in it)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    last_accessed = UTCDateTimeAttribute(range_key=True)


class DrsObjectRecord(Model):
    class Meta:
        table_name = "drs_objects"  # bound at start-up from the declaration

    file_id = UnicodeAttribute(hash_key=True)
    # all set for a registered file; a tombstone keeps only object_id (if it had one)
    object_id = UnicodeAttribute(null=True)
    secret_id = UnicodeAttribute(null=True)
    decrypted_sha256 = UnicodeAttribute(null=True)
    decrypted_size = NumberAttribute(null=True)
    content_size = NumberAttribute(null=True)
    created = UTCDateTimeAttribute(null=True)
    state = UnicodeAttribute()  # registered | staging | staged | deleted
    staging_requested_at = UTCDateTimeAttribute(null=True)
    last_accessed = UTCDateTimeAttribute(null=True)  # removed by the tombstone: off the index
    envelopes = UnicodeSetAttribute(null=True)  # EnvelopeRecord keys of the file's envelopes
    deleted_by = UnicodeAttribute(null=True)
    deleted_at = UTCDateTimeAttribute(null=True)

    by_state = ByStateIndex()


class EnvelopeRecord(Model):
    """An envelope as first handed out; stored in the ``drs_objects`` table."""

    class Meta:
        table_name = "drs_objects"  # bound to the same table as DrsObjectRecord

    file_id = UnicodeAttribute(hash_key=True)  # the key below, not a file id
    content = UnicodeAttribute()  # base64 of the Crypt4GH header
    created = UTCDateTimeAttribute()

    @staticmethod
    def key(file_id: str, secret_id: str, reader_b64url: str) -> str:
        return f"{_ENVELOPE_PREFIX}{file_id}#{secret_id}#{reader_b64url}"


class AuditRecord(Model):
    """The audit claim of one read (functions/dcs/audit.py); in the ``drs_objects`` table.

    It holds the read's name and its window, nothing of who read: that is in the event."""

    class Meta:
        table_name = "drs_objects"  # bound to the same table as DrsObjectRecord

    file_id = UnicodeAttribute(hash_key=True)  # the key below, not a file id
    until = UTCDateTimeAttribute()  # the read is not audited again before this
    published = BooleanAttribute(default=False)
    ranges = NumberAttribute(null=True)  # a reader's counter: partial reads in the window

    @staticmethod
    def key(file_id: str, read_id: str) -> str:
        return f"{_AUDIT_PREFIX}{file_id}#{read_id}"

    @staticmethod
    def counter_key(file_id: str, reader_id: str) -> str:
        return f"{_AUDIT_PREFIX}{file_id}#{reader_id}#ranges"


# ------------------------------------------------------------------ repository


def _won(update: UpdateError | PutError) -> bool:
    """False for a write whose condition did not hold; any other failure propagates."""
    if lost_condition(update):
        return False
    raise update


def _reader_key(reader: bytes) -> str:
    return base64.urlsafe_b64encode(reader).decode("ascii")


# what a tombstone no longer holds (object_id stays: a redelivered deletion removes the
# outbox copy again; envelopes stay until drop_envelopes has deleted them)
_CONTENT = (
    DrsObjectRecord.secret_id,
    DrsObjectRecord.decrypted_sha256,
    DrsObjectRecord.decrypted_size,
    DrsObjectRecord.content_size,
    DrsObjectRecord.staging_requested_at,
    DrsObjectRecord.last_accessed,
)
_LIVE = (REGISTERED, STAGING, STAGED)
_TX_ATTEMPTS = 3


def _conflict(error: TransactWriteError) -> bool:
    """Whether a transaction was cancelled for a concurrent write, not for its conditions."""
    reasons = error.cancellation_reasons
    return any(r is not None and r.code == "TransactionConflict" for r in reasons)


class DynamoDrsRepository:
    """DrsRepository on the ``drs_objects`` table; a lost condition answers False."""

    def __init__(self) -> None:
        self._connection: Connection | None = None

    def _tx(self) -> TransactWrite:
        if self._connection is None:
            meta = DrsObjectRecord.Meta
            self._connection = Connection(region=meta.region, host=meta.host)
        return TransactWrite(connection=self._connection)

    def get(self, file_id: str) -> DrsObject | None:
        if file_id.startswith(_NOT_FILES):
            return None  # those ids name envelopes and audit claims in the same table
        try:
            return entity_from(DrsObjectRecord.get(file_id, consistent_read=True), DrsObject)
        except DrsObjectRecord.DoesNotExist:
            return None

    def add_if_absent(self, item: DrsObject) -> bool:
        record = record_from(item, DrsObjectRecord)
        try:
            record.save(condition=DrsObjectRecord.file_id.does_not_exist())
        except PutError as error:
            return _won(error)
        return True

    def request_staging(self, item: DrsObject, now: datetime) -> bool:
        requested = DrsObjectRecord.staging_requested_at
        unchanged = (
            requested.does_not_exist()
            if item.staging_requested_at is None
            else requested == item.staging_requested_at
        )
        return self._update(
            item.file_id,
            [DrsObjectRecord.state.set(STAGING), requested.set(now)],
            (DrsObjectRecord.state == item.state) & unchanged,
        )

    def undo_staging_request(self, item: DrsObject, requested_at: datetime) -> bool:
        requested = DrsObjectRecord.staging_requested_at
        restore = (
            requested.remove()
            if item.staging_requested_at is None
            else requested.set(item.staging_requested_at)
        )
        return self._update(
            item.file_id,
            [DrsObjectRecord.state.set(item.state), restore],
            (DrsObjectRecord.state == STAGING) & (requested == requested_at),
        )

    def mark_staged(self, file_id: str, now: datetime) -> bool:
        return self._update(
            file_id,
            [DrsObjectRecord.state.set(STAGED), DrsObjectRecord.last_accessed.set(now)],
            DrsObjectRecord.state.is_in(REGISTERED, STAGING),
        )

    def touch(self, file_id: str, now: datetime) -> bool:
        return self._update(
            file_id, [DrsObjectRecord.last_accessed.set(now)], DrsObjectRecord.state == STAGED
        )

    def unstage(self, item: DrsObject) -> bool:
        accessed = DrsObjectRecord.last_accessed
        return self._update(
            item.file_id,
            [DrsObjectRecord.state.set(REGISTERED)],
            (DrsObjectRecord.state == STAGED) & (accessed == item.last_accessed),
        )

    def staged_unused_since(self, cutoff: datetime) -> Iterator[DrsObject]:
        for record in DrsObjectRecord.by_state.query(
            STAGED, DrsObjectRecord.last_accessed < cutoff
        ):
            yield entity_from(record, DrsObject)

    def get_envelope(self, file_id: str, secret_id: str, reader: bytes) -> bytes | None:
        key = EnvelopeRecord.key(file_id, secret_id, _reader_key(reader))
        try:
            record = EnvelopeRecord.get(key, consistent_read=True)
        except EnvelopeRecord.DoesNotExist:
            return None
        return base64.b64decode(record.content)

    def keep_envelope(
        self, file_id: str, secret_id: str, reader: bytes, envelope: bytes
    ) -> bytes | None:
        key = EnvelopeRecord.key(file_id, secret_id, _reader_key(reader))
        record = EnvelopeRecord(
            file_id=key,
            content=base64.b64encode(envelope).decode("ascii"),
            created=datetime.now(UTC),
        )
        refused = self._store_envelope(file_id, record)
        if refused is None:
            return envelope
        # either the file is deleted (or unknown), or another request kept one first
        item = self.get(file_id)
        if item is None or item.deleted:
            return None
        kept = self.get_envelope(file_id, secret_id, reader)
        if kept is None:  # pragma: no cover - a stored item does not vanish
            raise refused
        return kept

    def _store_envelope(self, file_id: str, record: EnvelopeRecord) -> TransactWriteError | None:
        """The envelope and its key on the live object in one transaction; the refusal if
        a condition did not hold (a transaction conflict is tried again, a few times)."""
        for attempt in range(_TX_ATTEMPTS):
            try:
                with self._tx() as tx:
                    tx.save(record, condition=EnvelopeRecord.file_id.does_not_exist())
                    tx.update(
                        DrsObjectRecord(file_id=file_id),
                        actions=[DrsObjectRecord.envelopes.add({record.file_id})],
                        condition=DrsObjectRecord.state.is_in(*_LIVE),
                    )
                return None
            except TransactWriteError as error:
                if _conflict(error):
                    if attempt + 1 < _TX_ATTEMPTS:
                        continue  # another reader's envelope was recorded at the same moment
                    raise
                if not lost_condition(error):
                    raise
                return error
        raise AssertionError("unreachable")  # pragma: no cover

    def tombstone(self, file_id: str, requested_by: str, at: datetime) -> DrsObject | None:
        deleted_by, deleted_at = DrsObjectRecord.deleted_by, DrsObjectRecord.deleted_at
        actions = [
            DrsObjectRecord.state.set(DELETED),
            deleted_by.set(deleted_by | requested_by),  # if_not_exists: the first request's
            deleted_at.set(deleted_at | at),
            *(attribute.remove() for attribute in _CONTENT),
        ]
        # no condition: whatever the state, and an upsert when there is no record yet; the
        # table connection, since Model.update answers only the new image, not the old one
        answer = DrsObjectRecord._get_connection().update_item(
            file_id, actions=actions, return_values=ALL_OLD
        )
        before = answer.get("Attributes")
        if not before:
            return None
        return entity_from(DrsObjectRecord.from_raw_data(before), DrsObject)

    def drop_envelopes(self, file_id: str) -> int:
        """Delete the envelopes recorded on the object, then forget their keys.

        Complete once the tombstone is written (no envelope is recorded after it). An
        envelope kept before the ``envelopes`` set existed is not recorded and stays:
        those are of files served before this change, found only by a scan.
        """
        try:
            record = DrsObjectRecord.get(file_id, consistent_read=True)
        except DrsObjectRecord.DoesNotExist:
            return 0
        keys = sorted(record.envelopes or ())
        for key in keys:
            if key.startswith(f"{_ENVELOPE_PREFIX}{file_id}#"):  # never another item
                EnvelopeRecord(file_id=key).delete()
        if keys:
            DrsObjectRecord(file_id=file_id).update(
                actions=[DrsObjectRecord.envelopes.delete(set(keys))]
            )
        return len(keys)

    def claim_audit(self, read_id: str, file_id: str, now: datetime, until: datetime) -> bool:
        record = AuditRecord(
            file_id=AuditRecord.key(file_id, read_id), until=until, published=False
        )
        condition = (
            AuditRecord.file_id.does_not_exist()
            | (AuditRecord.until <= now)
            | (AuditRecord.published == False)  # noqa: E712 (an expression)
        )
        try:
            record.save(condition=condition)
        except PutError as error:
            return _won(error)
        return True

    def confirm_audit(self, read_id: str, file_id: str) -> None:
        AuditRecord(file_id=AuditRecord.key(file_id, read_id)).update(
            actions=[AuditRecord.published.set(True)]
        )

    def audited_ranges(self, reader_id: str, file_id: str, now: datetime) -> tuple[int, datetime]:
        try:
            counter = AuditRecord.get(
                AuditRecord.counter_key(file_id, reader_id), consistent_read=True
            )
        except AuditRecord.DoesNotExist:
            return 0, now
        return (int(counter.ranges or 0), counter.until) if counter.until > now else (0, now)

    def count_audited_range(
        self, reader_id: str, file_id: str, now: datetime, until: datetime
    ) -> tuple[int, datetime]:
        key = AuditRecord.counter_key(file_id, reader_id)
        for _ in range(_TX_ATTEMPTS):
            counter = AuditRecord(file_id=key)
            try:  # the current window: one more (the update answers the new item)
                counter.update(
                    actions=[AuditRecord.ranges.add(1)], condition=AuditRecord.until > now
                )
                return int(counter.ranges), counter.until
            except UpdateError as error:
                if not lost_condition(error):
                    raise
            fresh = AuditRecord(file_id=key, until=until, ranges=1)
            ended = AuditRecord.file_id.does_not_exist() | (AuditRecord.until <= now)
            try:  # none, or it ended: a new window, unless another request opened it first
                fresh.save(condition=ended)
                return 1, until
            except PutError as error:
                if not lost_condition(error):
                    raise
        # pragma: no cover - three races in a row: the read is not served unaudited
        raise EventsDown("The request could not be completed; try again shortly.")

    @staticmethod
    def _update(file_id: str, actions: list, condition: object) -> bool:
        try:
            DrsObjectRecord(file_id=file_id).update(actions=actions, condition=condition)
        except UpdateError as error:
            return _won(error)
        return True
