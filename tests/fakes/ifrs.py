"""In memory: IFRS's FileRepository and CopyRepository (functions.ifrs.model).

Kept as the store keeps it: a saved copy, not the caller's object, and a versioned save
that raises StaleRecord when the stored version is not the one read, as the conditional
put on DynamoDB does.
"""

from __future__ import annotations

import copy

from functions.ifrs.model import OutboxCopy, Registration
from shared.lease import StaleRecord


class InMemoryFileRepository:
    def __init__(self) -> None:
        self.items: dict[str, Registration] = {}

    def get(self, file_id: str) -> Registration | None:
        found = self.items.get(file_id)
        return None if found is None else copy.deepcopy(found)

    def save(self, item: Registration) -> None:
        stored = self.items.get(item.file_id)
        if (stored.version if stored else None) != item.version:
            raise StaleRecord(item.file_id)
        item.version = (item.version or 0) + 1
        self.items[item.file_id] = copy.deepcopy(item)


class InMemoryCopyRepository:
    """IFRS's CopyRepository: as InMemoryFileRepository, keyed by the outbox key."""

    def __init__(self) -> None:
        self.items: dict[str, OutboxCopy] = {}

    def get(self, target_object_id: str) -> OutboxCopy | None:
        found = self.items.get(target_object_id)
        return None if found is None else copy.deepcopy(found)

    def save(self, item: OutboxCopy) -> None:
        stored = self.items.get(item.target_object_id)
        if (stored.version if stored else None) != item.version:
            raise StaleRecord(item.target_object_id)
        item.version = (item.version or 0) + 1
        self.items[item.target_object_id] = copy.deepcopy(item)

    def delete(self, target_object_id: str) -> bool:
        return self.items.pop(target_object_id, None) is not None
