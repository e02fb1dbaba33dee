"""pynamodb models bound to their table names and endpoint at start-up, and conditional writes."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pynamodb.exceptions import PutError

from shared.adapters.aws import endpoint_for, region

T = TypeVar("T")

# a write (or a transaction) refused because its condition did not hold: another writer won
_CONDITION_FAILED = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


def bind(model: Any, table_name: str) -> Any:
    """Point a pynamodb model at a concrete table (names come from the declaration)."""
    model.Meta.table_name = table_name
    model.Meta.region = region()
    model.Meta.host = endpoint_for("dynamodb")
    # pynamodb caches its connection per model; drop it so the new settings apply
    model._connection = None
    return model


def create_table(model: Any) -> None:
    """Create the model's table on demand (bootstrap of test and embedded stacks)."""
    if not model.exists():
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def lost_condition(error: Exception) -> bool:
    """Whether a pynamodb write failed only because its condition did not hold."""
    return getattr(error, "cause_response_code", None) in _CONDITION_FAILED


def save_versioned(record: Any, version: int | None) -> bool:
    """Save a record with a ``version`` attribute if the stored item is still at ``version``
    (None: the item must not exist yet); pynamodb adds that condition and bumps
    ``record.version``. False if another writer saved first."""
    if version is not None:
        record.version = version
    try:
        record.save()
    except PutError as error:
        if lost_condition(error):
            return False
        raise
    return True


# ---------------------------------------------------------------- record <-> entity


def _wants_int(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text.replace(" ", "") in ("int", "int|None")


def entity_from(record: Any, entity_cls: type[T], **overrides: Any) -> T:
    """The entity (a dataclass) from the record's attributes of the same names.

    The mapping is derived from the fields, never typed again: a field the record lacks is
    left to its default or to ``overrides``; numbers come back as ``int`` where the field
    says so (pynamodb's NumberAttribute may give floats).
    """
    attributes = record.get_attributes()
    values: dict[str, Any] = {}
    for item in dataclasses.fields(entity_cls):  # type: ignore[arg-type]
        if item.name in overrides or item.name not in attributes:
            continue
        value = getattr(record, item.name)
        if value is not None and _wants_int(item.type):
            value = int(value)
        values[item.name] = value
    return entity_cls(**values, **overrides)


def record_from(entity: Any, record_cls: type[T], **overrides: Any) -> T:
    """The record with every attribute the entity has a field of the same name for.

    A field that is None leaves the attribute unset (pynamodb's null), which is also what a
    ``VersionAttribute`` needs for an item not stored yet (``save_versioned`` sets it).
    """
    attributes = record_cls.get_attributes()  # type: ignore[attr-defined]
    values = {
        item.name: getattr(entity, item.name)
        for item in dataclasses.fields(entity)
        if item.name in attributes
        and item.name not in overrides
        and getattr(entity, item.name) is not None
    }
    return record_cls(**values, **overrides)
