"""IRS's tables (pynamodb) and the repository on them: one interrogation item per inbox
object key, saved with optimistic concurrency (version attribute), and one item per staged
part (its checksums), so that no item grows with the file's part count. A part's item is
written before the checkpoint that counts it (a kill between the two leaves an item the
next turn writes again). Not one transaction: moto, the testbed's DynamoDB, copies every
table for each transaction, which made a 10,000-part interrogation quadratic (0.2 s a part
by part 4,500, and the lease ran out); on DynamoDB it would cost two writes as well."""

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
    # a count: the parts' checksums are PartRecords, whatever the file's size
    parts_staged = NumberAttribute(default=0)
    plain_size = NumberAttribute(default=0)
    hash_state = BinaryAttribute(null=True, legacy_encoding=False)
    parts_hash_state = BinaryAttribute(null=True, legacy_encoding=False)
    reason = UnicodeAttribute(null=True)
    outcome = JSONAttribute(null=True)  # small: the parts are named by a manifest reference
    deleted_by = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    updated = UTCDateTimeAttribute()


class PartRecord(Model):
    """One staged part of an inbox object's interrogation."""

    class Meta:
        table_name = "interrogation_parts"  # bound at start-up from the declaration

    object_key = UnicodeAttribute(hash_key=True)
    number = NumberAttribute(range_key=True)
    md5 = UnicodeAttribute()  # hex
    sha256 = UnicodeAttribute()


def to_record(item: Interrogation) -> InterrogationRecord:
    """The item as it is saved (its size is what DynamoDB's item limit applies to)."""
    return record_from(
        item,
        InterrogationRecord,
        upload=item.upload.as_dict() if item.upload else None,
        updated=datetime.now(UTC),
    )


def to_part_record(object_key: str, part: StagedPart) -> PartRecord:
    return PartRecord(object_key, part.number, md5=part.md5, sha256=part.sha256)


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
            parts_staged=int(record.parts_staged or 0),
            plain_size=int(record.plain_size or 0),
        )

    def save(self, item: Interrogation) -> None:
        record = to_record(item)
        if not save_versioned(record, item.version):
            raise StaleRecord(item.object_key)
        item.version = record.version

    def checkpoint(self, item: Interrogation, part: StagedPart) -> None:
        to_part_record(item.object_key, part).save()
        self.save(item)  # on the condition of its version: StaleRecord if another moved on

    def parts(self, object_key: str) -> list[StagedPart]:
        # a Query of the hash key, in range-key order; pynamodb follows LastEvaluatedKey
        return [
            StagedPart(int(record.number), record.md5, record.sha256)
            for record in PartRecord.query(object_key, consistent_read=True)
        ]

    def delete_parts(self, object_key: str) -> int:
        found = list(
            PartRecord.query(object_key, consistent_read=True, attributes_to_get=["number"])
        )
        with PartRecord.batch_write() as batch:  # 25 a request, unprocessed ones retried
            for record in found:
                batch.delete(PartRecord(object_key, record.number))
        return len(found)
