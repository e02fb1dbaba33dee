"""The files table (pynamodb), owned by IFRS: one item per registered file."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model


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
