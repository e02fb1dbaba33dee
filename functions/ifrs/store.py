"""The files and copies tables (pynamodb), owned by IFRS, and the repositories on them: one
item per registered file, and one per outbox copy under way (its lease and checkpoint),
both saved with optimistic concurrency (version attribute). A checkpoint is three numbers
and an upload id, whatever the part count.

A deleted file's item is its tombstone: the file id, state ``deleted``, who asked and when,
and the ids of the objects that were removed. Every attribute that comes from the
interrogation is nullable and left unset there (a put replaces the whole item), so no
checksum, size or secret id outlives the deletion."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DeleteError
from pynamodb.models import Model

from functions.ifrs.model import OutboxCopy, Registration
from shared.adapters.dynamo import entity_from, lost_condition, record_from, save_versioned
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
    object_id = UnicodeAttribute(null=True)  # none in a tombstone that came first
    bucket = UnicodeAttribute(null=True)
    staged_object_id = UnicodeAttribute(null=True)
    # the facts other services look up, as attributes of their own (none in a tombstone)
    secret_id = UnicodeAttribute(null=True)
    decrypted_sha256 = UnicodeAttribute(null=True)
    decrypted_size = NumberAttribute(null=True)
    encrypted_size = NumberAttribute(null=True)
    encrypted_part_size = NumberAttribute(null=True)
    # the whole FileInterrogationSuccess payload (part checksums, staged object)
    interrogation = JSONAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    registered = UTCDateTimeAttribute(null=True)
    deleted = UTCDateTimeAttribute(null=True)
    deleted_by = UnicodeAttribute(null=True)
    # the checkpoint of the copy to permanent storage (functions/ifrs/copier.py)
    copy_upload_id = UnicodeAttribute(null=True)
    copy_part_size = NumberAttribute(null=True)
    copy_parts_done = NumberAttribute(default=0)
    updated = UTCDateTimeAttribute()


class OutboxCopyRecord(Model):
    class Meta:
        table_name = "copies"  # bound at start-up from the declaration

    target_object_id = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    file_id = UnicodeAttribute()
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    copy_upload_id = UnicodeAttribute(null=True)
    copy_part_size = NumberAttribute(null=True)
    copy_parts_done = NumberAttribute(default=0)
    updated = UTCDateTimeAttribute()


class DynamoFileRepository:
    def get(self, file_id: str) -> Registration | None:
        try:
            record = FileRecord.get(file_id, consistent_read=True)
        except FileRecord.DoesNotExist:
            return None
        payload = record.interrogation
        return entity_from(
            record, Registration, interrogation=None if payload is None else dict(payload)
        )

    def save(self, item: Registration) -> None:
        payload = item.interrogation
        facts = {} if payload is None else {name: payload[name] for name in _FACTS}
        record = record_from(item, FileRecord, **facts, updated=datetime.now(UTC))
        if not save_versioned(record, item.version):
            raise StaleRecord(item.file_id)
        item.version = record.version


class DynamoCopyRepository:
    def get(self, target_object_id: str) -> OutboxCopy | None:
        try:
            record = OutboxCopyRecord.get(target_object_id, consistent_read=True)
        except OutboxCopyRecord.DoesNotExist:
            return None
        return entity_from(record, OutboxCopy)

    def save(self, item: OutboxCopy) -> None:
        record = record_from(item, OutboxCopyRecord, updated=datetime.now(UTC))
        if not save_versioned(record, item.version):
            raise StaleRecord(item.target_object_id)
        item.version = record.version

    def delete(self, target_object_id: str) -> bool:
        try:
            OutboxCopyRecord(target_object_id).delete(
                condition=OutboxCopyRecord.target_object_id.exists(),
                add_version_condition=False,  # whoever holds it: the caller decides
            )
        except DeleteError as error:
            if lost_condition(error):
                return False
            raise
        return True
