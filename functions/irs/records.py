"""The interrogations table (pynamodb), owned by IRS: one item per inbox object key."""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model


class InterrogationRecord(Model):
    class Meta:
        table_name = "interrogations"  # bound at start-up from the declaration

    object_key = UnicodeAttribute(hash_key=True)
    version = VersionAttribute()
    state = UnicodeAttribute()
    object_size = NumberAttribute(null=True)
    upload = JSONAttribute(null=True)
    secret_id = UnicodeAttribute(null=True)
    wrapped_secret = UnicodeAttribute(null=True)
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
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    updated = UTCDateTimeAttribute()
