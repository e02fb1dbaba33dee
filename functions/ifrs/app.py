"""IFRS as a Lambda: each event on its queue becomes one call on the Registry.

A handler that raises leaves the message for a retry (dead-lettered after maxReceiveCount);
messages that are not our events are logged and dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Chalice

from functions.ifrs.config import wiring
from infra.resources import queue_for
from shared.events import (
    BadEvent,
    FileInterrogationSuccess,
    NonStagedFileRequested,
    parse_message,
)

log = logging.getLogger("fs.ifrs")

app = Chalice(app_name="ifrs")


@app.on_sqs_message(queue=queue_for("ifrs", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    _, registry, stager = wiring()
    for record in event:
        try:
            envelope = parse_message(record.body)
            parsed = envelope.parsed()
        except (BadEvent, ValueError):
            log.warning("message is not one of our events; dropped")
            continue
        # FileInternallyRegistered is a subclass of the success schema: match the type name
        if envelope.type == "FileInterrogationSuccess":
            assert isinstance(parsed, FileInterrogationSuccess)
            registry.register(parsed)
        elif envelope.type == "NonStagedFileRequested":
            assert isinstance(parsed, NonStagedFileRequested)
            stager.stage(parsed)
        else:
            log.info("event needs nothing here", extra={"event_type": envelope.type})
