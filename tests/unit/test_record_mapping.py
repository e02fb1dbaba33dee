"""Records and entities map by field name (shared/adapters/dynamo.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from shared.adapters.dynamo import entity_from, record_from


class _Record(Model):
    class Meta:
        table_name = "t"

    id = UnicodeAttribute(hash_key=True)
    size = NumberAttribute()
    note = UnicodeAttribute(null=True)
    only_stored = UnicodeAttribute(null=True)


@dataclass
class _Entity:
    id: str
    size: int
    note: str | None = None
    derived: str = "x"


def test_round_trip_by_field_names() -> None:
    entity = _Entity("a", 5, "n")
    record = record_from(entity, _Record, only_stored="s")
    assert (record.id, record.size, record.note, record.only_stored) == ("a", 5, "n", "s")
    record.size = 5.0  # what NumberAttribute may give back
    back = entity_from(record, _Entity, derived="y")
    assert back == _Entity("a", 5, "n", "y") and isinstance(back.size, int)
