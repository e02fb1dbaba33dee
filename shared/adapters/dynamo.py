"""pynamodb models bound to their table names and endpoint at start-up, and conditional writes."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from shared.adapters.aws import endpoint_for, region

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
