"""The files table (pynamodb), owned by IFRS, and the repository on it: one item per
registered file, saved with optimistic concurrency (version attribute)."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model

from functions.ifrs.model import Registration
from shared.adapters.dynamo import entity_from, record_from, save_versioned
from shared.lease import StaleRecord

# the facts other services look up, copied from the interrogation into attributes of their own
_FACTS = (
    "secret_id",
    "decrypted_sha256",
    "decrypted_size",
    "encrypted_size",
    "encrypted_part_size",
)


class FileRecord(Model):
    class Meta:
        table_name = "files"  # bound at start-up from the declaration

    file_id = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    state = UnicodeAttribute()
    object_id = UnicodeAttribute()
    bucket = UnicodeAttribute()
    # the facts other services look up, as attributes of their own
    secret_id = UnicodeAttribute()
    decrypted_sha256 = UnicodeAttribute()
    decrypted_size = NumberAttribute()
    encrypted_size = NumberAttribute()
    encrypted_part_size = NumberAttribute()
    # the whole FileInterrogationSuccess payload (part checksums, staged object)
    interrogation = JSONAttribute()
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    registered = UTCDateTimeAttribute(null=True)
    updated = UTCDateTimeAttribute()


class DynamoFileRepository:
    def get(self, file_id: str) -> Registration | None:
        try:
            record = FileRecord.get(file_id, consistent_read=True)
        except FileRecord.DoesNotExist:
            return None
        return entity_from(record, Registration, interrogation=dict(record.interrogation))

    def save(self, item: Registration) -> None:
        facts = {name: item.interrogation[name] for name in _FACTS}
        record = record_from(item, FileRecord, **facts, updated=datetime.now(UTC))
        if not save_versioned(record, item.version):
            raise StaleRecord(item.file_id)
        item.version = record.version
