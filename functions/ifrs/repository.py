"""The file repository on DynamoDB, with optimistic concurrency (version attribute)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.ifrs.model import Registration, StaleRecord
from functions.ifrs.records import FileRecord
from shared.adapters.dynamo import save_versioned


class DynamoFileRepository:
    def get(self, file_id: str) -> Registration | None:
        try:
            record = FileRecord.get(file_id, consistent_read=True)
        except FileRecord.DoesNotExist:
            return None
        return Registration(
            file_id=record.file_id,
            object_id=record.object_id,
            bucket=record.bucket,
            interrogation=dict(record.interrogation),
            state=record.state,
            version=record.version,
            lease_owner=record.lease_owner,
            lease_until=record.lease_until,
            registered=record.registered,
        )

    def save(self, item: Registration) -> None:
        facts = item.interrogation
        record = FileRecord(
            file_id=item.file_id,
            state=item.state,
            object_id=item.object_id,
            bucket=item.bucket,
            secret_id=facts["secret_id"],
            decrypted_sha256=facts["decrypted_sha256"],
            decrypted_size=facts["decrypted_size"],
            encrypted_size=facts["encrypted_size"],
            encrypted_part_size=facts["encrypted_part_size"],
            interrogation=facts,
            lease_owner=item.lease_owner,
            lease_until=item.lease_until,
            registered=item.registered,
            updated=datetime.now(UTC),
        )
        if not save_versioned(record, item.version):
            raise StaleRecord(item.file_id)
        item.version = record.version
