"""DCS's table ``drs_objects`` (pynamodb) and the DrsRepository on it.

One item per downloadable file (``DrsObjectRecord``), and in the same table the envelopes
handed out so far (``EnvelopeRecord``, id ``envelope#<file>#<secret>#<reader key>``), which
carry none of the index keys. The ``by_state`` index lists staged files by last access, for
the clean-up of the outbox. Every state change is a conditional update, so that concurrent
requests agree on one winner.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from functions.dcs.model import REGISTERED, STAGED, STAGING, DrsObject
from shared.adapters.dynamo import entity_from, lost_condition, record_from

_ENVELOPE_PREFIX = "envelope#"


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
    object_id = UnicodeAttribute()
    secret_id = UnicodeAttribute()
    decrypted_sha256 = UnicodeAttribute()
    decrypted_size = NumberAttribute()
    content_size = NumberAttribute()
    created = UTCDateTimeAttribute()
    state = UnicodeAttribute()  # registered | staging | staged
    staging_requested_at = UTCDateTimeAttribute(null=True)
    last_accessed = UTCDateTimeAttribute(null=True)

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


# ------------------------------------------------------------------ repository


def _won(update: UpdateError | PutError) -> bool:
    """False for a write whose condition did not hold; any other failure propagates."""
    if lost_condition(update):
        return False
    raise update


def _reader_key(reader: bytes) -> str:
    return base64.urlsafe_b64encode(reader).decode("ascii")


class DynamoDrsRepository:
    """DrsRepository on the ``drs_objects`` table; a lost condition answers False."""

    def get(self, file_id: str) -> DrsObject | None:
        if file_id.startswith(_ENVELOPE_PREFIX):
            return None  # those ids name envelopes in the same table
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

    def keep_envelope(self, file_id: str, secret_id: str, reader: bytes, envelope: bytes) -> bytes:
        key = EnvelopeRecord.key(file_id, secret_id, _reader_key(reader))
        record = EnvelopeRecord(
            file_id=key,
            content=base64.b64encode(envelope).decode("ascii"),
            created=datetime.now(UTC),
        )
        try:
            record.save(condition=EnvelopeRecord.file_id.does_not_exist())
        except PutError as error:
            _won(error)
            kept = self.get_envelope(file_id, secret_id, reader)
            if kept is None:  # pragma: no cover - a stored item does not vanish
                raise
            return kept
        return envelope

    @staticmethod
    def _update(file_id: str, actions: list, condition: object) -> bool:
        try:
            DrsObjectRecord(file_id=file_id).update(actions=actions, condition=condition)
        except UpdateError as error:
            return _won(error)
        return True
