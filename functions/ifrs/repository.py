"""The file repository on DynamoDB, with optimistic concurrency (version attribute)."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from functions.ifrs.model import Registration, StaleRecord
from functions.ifrs.records import FileRecord


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
        if item.version is not None:  # absent: the record must not exist yet
            record.version = item.version
        try:
            record.save()
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise StaleRecord(item.file_id) from error
            raise
        item.version = record.version
