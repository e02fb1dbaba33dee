"""UCS's tables (pynamodb): ``boxes`` and ``uploads``, owned by UCS.

The ``uploads`` table also holds one alias claim per active alias (``UploadAliasRecord``,
id ``alias#<box>#<alias>``). Claims carry none of the index keys, so the indexes never
see them; a conditional put on a claim is what makes an alias unique within a box.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class BoxRecord(Model):
    class Meta:
        table_name = "boxes"  # bound at start-up from the declaration

    id = UnicodeAttribute(hash_key=True)
    max_size = NumberAttribute()
    status = UnicodeAttribute()  # open | locked | deleted
    description = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    # kept exact by the same transactions that change upload states
    used_size = NumberAttribute(default=0)
    n_init = NumberAttribute(default=0)
    n_inbox = NumberAttribute(default=0)
    n_interrogated = NumberAttribute(default=0)
    n_failed = NumberAttribute(default=0)
    n_cancelled = NumberAttribute(default=0)
    n_registered = NumberAttribute(default=0)


class ByBoxIndex(GlobalSecondaryIndex["UploadRecord"]):
    """A box's uploads in creation order (the listing)."""

    class Meta:
        index_name = "by_box"
        projection = AllProjection()

    box_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class ByStateIndex(GlobalSecondaryIndex["UploadRecord"]):
    """Uploads per state in creation order (the clean-up of abandoned uploads)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class UploadRecord(Model):
    class Meta:
        table_name = "uploads"  # bound at start-up from the declaration

    id = UnicodeAttribute(hash_key=True)
    box_id = UnicodeAttribute()
    alias = UnicodeAttribute()
    decrypted_size = NumberAttribute()
    encrypted_size = NumberAttribute()
    part_size = NumberAttribute()
    state = UnicodeAttribute()
    state_reason = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    sort_key = UnicodeAttribute()  # "<created, ISO>#<id>": creation order, ties broken
    s3_upload_id = UnicodeAttribute()
    object_id = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    cancelled_from = UnicodeAttribute(null=True)
    submitter_public_key = UnicodeAttribute(null=True)
    decrypted_sha256 = UnicodeAttribute(null=True)
    encrypted_md5 = UnicodeAttribute(null=True)
    encrypted_parts_digest = UnicodeAttribute(null=True)
    received_published = BooleanAttribute(default=False)

    by_box = ByBoxIndex()
    by_state = ByStateIndex()


class UploadAliasRecord(Model):
    """Which upload holds an alias of a box; stored in the ``uploads`` table."""

    class Meta:
        table_name = "uploads"  # bound to the same table as UploadRecord

    id = UnicodeAttribute(hash_key=True)
    file_id = UnicodeAttribute()

    @staticmethod
    def key(box_id: str, alias: str) -> str:
        return f"alias#{box_id}#{alias}"
