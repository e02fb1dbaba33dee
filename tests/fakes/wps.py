"""In memory: WPS's WorkPackageRepository (functions.wps.model)."""

from __future__ import annotations

import copy
from datetime import datetime

from functions.wps.model import WorkPackage
from shared.events import Envelope, EventSchema, envelope
from tests.fakes import RecordingPublisher


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

    def revoke(self, package_id: str, revoked: datetime, revoked_by: str) -> bool:
        found = self.packages.get(package_id)
        if found is None or found.revoked is not None:
            return False
        found.revoked, found.revoked_by = revoked, revoked_by
        return True


class EnvelopePublisher(RecordingPublisher):
    """RecordingPublisher that also keeps each event's envelope (its key, WPS's package id)."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def publish(self, event: EventSchema, key: str | None = None) -> str:
        if self.fail is not None:
            raise self.fail
        message = envelope(event, key)
        self.events.append((message.type, message.payload))
        self.envelopes.append(message)
        return message.event_id
