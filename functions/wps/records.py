"""The work package table (pynamodb), owned by WPS."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


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
