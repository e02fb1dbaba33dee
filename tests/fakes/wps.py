"""In memory: WPS's WorkPackageRepository (functions.wps.model)."""

from __future__ import annotations

import copy

from functions.wps.model import WorkPackage


class InMemoryWorkPackageRepository:
    """Packages by id; adding an existing id fails, as the table's condition makes it."""

    def __init__(self) -> None:
        self.packages: dict[str, WorkPackage] = {}

    def add(self, package: WorkPackage) -> None:
        if package.id in self.packages:
            raise ValueError(f"work package {package.id} exists")
        self.packages[package.id] = copy.deepcopy(package)

    def get(self, package_id: str) -> WorkPackage | None:
        found = self.packages.get(package_id)
        return None if found is None else copy.deepcopy(found)
