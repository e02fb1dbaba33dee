"""In memory: IRS's InterrogationRepository (functions.irs.model).

Kept as the store keeps it: a saved copy, not the caller's object, and a versioned save
that raises StaleRecord when the stored version is not the one read, as the conditional
put on DynamoDB does. ``stale_saves`` makes the next saves lose that race. Part items are
kept per object key and part number, as the parts table keys them.
"""

from __future__ import annotations

import copy

from functions.irs.model import Interrogation, StagedPart
from shared.lease import StaleRecord


class InMemoryInterrogationRepository:
    def __init__(self) -> None:
        self.items: dict[str, Interrogation] = {}
        self.part_items: dict[tuple[str, int], StagedPart] = {}
        self.saves = 0
        self.stale_saves = 0
        self.part_puts = 0

    def get(self, object_key: str) -> Interrogation | None:
        found = self.items.get(object_key)
        return None if found is None else copy.deepcopy(found)

    def save(self, item: Interrogation) -> None:
        stored = self.items.get(item.object_key)
        if self.stale_saves or (stored.version if stored else None) != item.version:
            self.stale_saves = max(0, self.stale_saves - 1)
            raise StaleRecord(item.object_key)
        item.version = (item.version or 0) + 1
        self.items[item.object_key] = copy.deepcopy(item)
        self.saves += 1

    def checkpoint(self, item: Interrogation, part: StagedPart) -> None:
        stored = self.items.get(item.object_key)
        if not self.stale_saves and (stored.version if stored else None) == item.version:
            self.part_items[(item.object_key, part.number)] = part
            self.part_puts += 1
        self.save(item)  # StaleRecord, and nothing written, if the version moved on

    def parts(self, object_key: str) -> list[StagedPart]:
        return [part for (key, _), part in sorted(self.part_items.items()) if key == object_key]

    def delete_parts(self, object_key: str) -> int:
        found = [k for k in self.part_items if k[0] == object_key]
        for k in found:
            del self.part_items[k]
        return len(found)
