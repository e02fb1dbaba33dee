"""The interrogation repository on DynamoDB, with optimistic concurrency (version attribute)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.irs.model import Interrogation, StagedPart, StaleRecord, Upload
from functions.irs.records import InterrogationRecord
from shared.adapters.dynamo import save_versioned

_PART = 48


def pack_parts(parts: list[StagedPart]) -> bytes:
    return b"".join(bytes.fromhex(p.md5) + bytes.fromhex(p.sha256) for p in parts)


def unpack_parts(blob: bytes | None) -> list[StagedPart]:
    blob = blob or b""
    return [
        StagedPart(blob[i : i + 16].hex(), blob[i + 16 : i + _PART].hex())
        for i in range(0, len(blob), _PART)
    ]


class DynamoInterrogationRepository:
    def get(self, object_key: str) -> Interrogation | None:
        try:
            record = InterrogationRecord.get(object_key, consistent_read=True)
        except InterrogationRecord.DoesNotExist:
            return None
        return Interrogation(
            object_key=record.object_key,
            version=record.version,
            state=record.state,
            object_size=_int(record.object_size),
            upload=Upload(**record.upload) if record.upload else None,
            secret_id=record.secret_id,
            wrapped_secret=record.wrapped_secret,
            offset=_int(record.offset),
            staged_object_id=record.staged_object_id,
            staging_upload_id=record.staging_upload_id,
            staging_part_size=_int(record.staging_part_size),
            parts=unpack_parts(record.parts),
            plain_size=int(record.plain_size or 0),
            hash_state=record.hash_state,
            reason=record.reason,
            outcome=record.outcome,
            lease_owner=record.lease_owner,
            lease_until=record.lease_until,
        )

    def save(self, item: Interrogation) -> None:
        record = InterrogationRecord(
            object_key=item.object_key,
            state=item.state,
            object_size=item.object_size,
            upload=item.upload.as_dict() if item.upload else None,
            secret_id=item.secret_id,
            wrapped_secret=item.wrapped_secret,
            offset=item.offset,
            staged_object_id=item.staged_object_id,
            staging_upload_id=item.staging_upload_id,
            staging_part_size=item.staging_part_size,
            parts=pack_parts(item.parts) or None,
            plain_size=item.plain_size,
            hash_state=item.hash_state,
            reason=item.reason,
            outcome=item.outcome,
            lease_owner=item.lease_owner,
            lease_until=item.lease_until,
            updated=datetime.now(UTC),
        )
        if not save_versioned(record, item.version):
            raise StaleRecord(item.object_key)
        item.version = record.version


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
