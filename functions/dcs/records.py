"""DCS's table (pynamodb): ``drs_objects``, owned by DCS.

One item per downloadable file (``DrsObjectRecord``), and in the same table the envelopes
handed out so far (``EnvelopeRecord``, id ``envelope#<file>#<secret>#<reader key>``), which
carry none of the index keys. The ``by_state`` index lists staged files by last access, for
the clean-up of the outbox.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByStateIndex(GlobalSecondaryIndex["DrsObjectRecord"]):
    """Files per state by last access (only files accessed at least once are in it)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    last_accessed = UTCDateTimeAttribute(range_key=True)


class DrsObjectRecord(Model):
    class Meta:
        table_name = "drs_objects"  # bound at start-up from the declaration

    file_id = UnicodeAttribute(hash_key=True)
    object_id = UnicodeAttribute()
    secret_id = UnicodeAttribute()
    decrypted_sha256 = UnicodeAttribute()
    decrypted_size = NumberAttribute()
    content_size = NumberAttribute()
    created = UTCDateTimeAttribute()
    state = UnicodeAttribute()  # registered | staging | staged
    staging_requested_at = UTCDateTimeAttribute(null=True)
    last_accessed = UTCDateTimeAttribute(null=True)

    by_state = ByStateIndex()


class EnvelopeRecord(Model):
    """An envelope as first handed out; stored in the ``drs_objects`` table."""

    class Meta:
        table_name = "drs_objects"  # bound to the same table as DrsObjectRecord

    file_id = UnicodeAttribute(hash_key=True)  # the key below, not a file id
    content = UnicodeAttribute()  # base64 of the Crypt4GH header
    created = UTCDateTimeAttribute()

    @staticmethod
    def key(file_id: str, secret_id: str, reader_b64url: str) -> str:
        return f"envelope#{file_id}#{secret_id}#{reader_b64url}"
