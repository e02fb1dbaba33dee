"""pynamodb models bound to their table names and endpoint at start-up."""

from __future__ import annotations

from typing import Any

from shared.adapters.aws import endpoint_for, region


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
