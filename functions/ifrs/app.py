"""IFRS as a Lambda: each event on its queue becomes one call on a use case (the Registry,
the Stager, or the file's deletion).

A handler that raises leaves the message for a retry (dead-lettered after maxReceiveCount);
messages that are not our events are logged and dropped.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from functions.ifrs.inject import inject
from shared.events import (
    FileDeletionRequested,
    FileInterrogationSuccess,
    NonStagedFileRequested,
    deliver,
)
from shared.resources import queue_for

app = Chalice(app_name="ifrs")


@app.on_sqs_message(queue=queue_for("ifrs", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    wiring = inject()
    deliver(
        event,
        {
            FileInterrogationSuccess: wiring.registry.register,
            NonStagedFileRequested: wiring.stager.stage,
            FileDeletionRequested: wiring.deletion.on_requested,
        },
    )
