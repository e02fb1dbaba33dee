"""The work package repository on DynamoDB."""

from __future__ import annotations

from functions.wps.core import WorkPackage
from functions.wps.records import WorkPackageRecord


class DynamoWorkPackageRepository:
    def add(self, package: WorkPackage) -> None:
        record = WorkPackageRecord(
            id=package.id,
            type=package.type,
            token_sha256=package.token_sha256,
            user_id=package.user_id,
            user_public_crypt4gh_key=package.user_public_crypt4gh_key,
            file_ids=package.file_ids,
            file_extensions=package.file_extensions,
            research_data_upload_box_id=package.research_data_upload_box_id,
            file_upload_box_id=package.file_upload_box_id,
            created=package.created,
            expires=package.expires,
        )
        # ids are fresh UUIDs: a collision must fail, never overwrite
        record.save(condition=WorkPackageRecord.id.does_not_exist())

    def get(self, package_id: str) -> WorkPackage | None:
        try:
            record = WorkPackageRecord.get(package_id, consistent_read=True)
        except WorkPackageRecord.DoesNotExist:
            return None
        return WorkPackage(
            id=record.id,
            type=record.type,  # type: ignore[arg-type]
            token_sha256=record.token_sha256,
            user_id=record.user_id,
            user_public_crypt4gh_key=record.user_public_crypt4gh_key,
            created=record.created,
            expires=record.expires,
            file_ids=list(record.file_ids or []),
            file_extensions=dict(
                record.file_extensions.as_dict() if record.file_extensions else {}
            ),
            research_data_upload_box_id=record.research_data_upload_box_id,
            file_upload_box_id=record.file_upload_box_id,
        )
