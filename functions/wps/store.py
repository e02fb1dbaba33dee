"""The work package table (pynamodb), owned by WPS, and the repository on it."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from functions.wps.model import WorkPackage
from shared.adapters.dynamo import entity_from, lost_condition, record_from


class WorkPackageRecord(Model):
    class Meta:
        table_name = "work_packages"  # bound at start-up from the declaration

    id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    token_sha256 = UnicodeAttribute()
    user_id = UnicodeAttribute()
    user_public_crypt4gh_key = UnicodeAttribute()
    file_ids = ListAttribute(of=UnicodeAttribute, default=list)
    file_extensions = MapAttribute(default=dict)
    research_data_upload_box_id = UnicodeAttribute(null=True)
    file_upload_box_id = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    expires = UTCDateTimeAttribute()
    revoked = UTCDateTimeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)


class DynamoWorkPackageRepository:
    """WorkPackageRepository on DynamoDB."""

    def add(self, package: WorkPackage) -> None:
        record = record_from(package, WorkPackageRecord)
        # ids are fresh UUIDs: a collision must fail, never overwrite
        record.save(condition=WorkPackageRecord.id.does_not_exist())

    def get(self, package_id: str) -> WorkPackage | None:
        try:
            record = WorkPackageRecord.get(package_id, consistent_read=True)
        except WorkPackageRecord.DoesNotExist:
            return None
        extensions = record.file_extensions
        return entity_from(
            record,
            WorkPackage,
            file_ids=list(record.file_ids or []),
            file_extensions=dict(extensions.as_dict() if extensions else {}),
        )

    def revoke(self, package_id: str, revoked: datetime, revoked_by: str) -> bool:
        # the conditions make it one atomic step: an unknown id is never created, and a
        # second revocation keeps the first one's time and author
        record = WorkPackageRecord(id=package_id)
        unrevoked = WorkPackageRecord.id.exists() & WorkPackageRecord.revoked.does_not_exist()
        try:
            record.update(
                actions=[
                    WorkPackageRecord.revoked.set(revoked),
                    WorkPackageRecord.revoked_by.set(revoked_by),
                ],
                condition=unrevoked,
            )
        except UpdateError as error:
            if lost_condition(error):
                return False
            raise
        return True
