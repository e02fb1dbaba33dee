"""The interrogations table (pynamodb), owned by IRS, and the repository on it: one item per
inbox object key, saved with optimistic concurrency (version attribute)."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model

from functions.irs.model import Interrogation, StagedPart, Upload
from shared.adapters.dynamo import entity_from, record_from, save_versioned
from shared.lease import StaleRecord

_PART = 48


class InterrogationRecord(Model):
    class Meta:
        table_name = "interrogations"  # bound at start-up from the declaration

    object_key = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    state = UnicodeAttribute()
    object_size = NumberAttribute(null=True)
    upload = JSONAttribute(null=True)
    secret_id = UnicodeAttribute(null=True)
    offset = NumberAttribute(null=True)
    staged_object_id = UnicodeAttribute(null=True)
    staging_upload_id = UnicodeAttribute(null=True)
    staging_part_size = NumberAttribute(null=True)
    # md5 (16 bytes) + sha256 (32 bytes) per staged part: 48 bytes a part keeps the item far
    # below DynamoDB's 400 KB for every file an outcome event can describe
    parts = BinaryAttribute(null=True, legacy_encoding=False)
    plain_size = NumberAttribute(default=0)
    hash_state = BinaryAttribute(null=True, legacy_encoding=False)
    reason = UnicodeAttribute(null=True)
    outcome = JSONAttribute(null=True)
    deleted_by = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    updated = UTCDateTimeAttribute()


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
        return entity_from(
            record,
            Interrogation,
            upload=Upload(**record.upload) if record.upload else None,
            parts=unpack_parts(record.parts),
            plain_size=int(record.plain_size or 0),
        )

    def save(self, item: Interrogation) -> None:
        record = record_from(
            item,
            InterrogationRecord,
            upload=item.upload.as_dict() if item.upload else None,
            parts=pack_parts(item.parts) or None,
            updated=datetime.now(UTC),
        )
        if not save_versioned(record, item.version):
            raise StaleRecord(item.object_key)
        item.version = record.version
