"""The DRS object repository on DynamoDB: every state change is a conditional update."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

from pynamodb.exceptions import PutError, UpdateError

from functions.dcs.model import REGISTERED, STAGED, STAGING, DrsObject
from functions.dcs.records import DrsObjectRecord, EnvelopeRecord
from shared.adapters.dynamo import lost_condition

_ENVELOPE_PREFIX = "envelope#"


def _won(update: UpdateError | PutError) -> bool:
    """False for a write whose condition did not hold; any other failure propagates."""
    if lost_condition(update):
        return False
    raise update


def _item(record: DrsObjectRecord) -> DrsObject:
    return DrsObject(
        file_id=record.file_id,
        object_id=record.object_id,
        secret_id=record.secret_id,
        decrypted_sha256=record.decrypted_sha256,
        decrypted_size=int(record.decrypted_size),
        content_size=int(record.content_size),
        created=record.created,
        state=record.state,
        staging_requested_at=record.staging_requested_at,
        last_accessed=record.last_accessed,
    )


def _reader_key(reader: bytes) -> str:
    return base64.urlsafe_b64encode(reader).decode("ascii")


class DynamoDrsRepository:
    def get(self, file_id: str) -> DrsObject | None:
        if file_id.startswith(_ENVELOPE_PREFIX):
            return None  # those ids name envelopes in the same table
        try:
            return _item(DrsObjectRecord.get(file_id, consistent_read=True))
        except DrsObjectRecord.DoesNotExist:
            return None

    def add_if_absent(self, item: DrsObject) -> bool:
        record = DrsObjectRecord(
            file_id=item.file_id,
            object_id=item.object_id,
            secret_id=item.secret_id,
            decrypted_sha256=item.decrypted_sha256,
            decrypted_size=item.decrypted_size,
            content_size=item.content_size,
            created=item.created,
            state=item.state,
        )
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
            yield _item(record)

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
