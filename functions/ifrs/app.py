"""IFRS as a Lambda: each event on its queue becomes one call on a use case (the Registry,
the Stager, or the file's deletion).

A handler that raises leaves the message for a retry (dead-lettered after maxReceiveCount);
messages that are not our events are logged and dropped. The copies are told the Lambda's
remaining time, so that they hand the rest on to a next invocation before it runs out.
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
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deliver(
        event,
        {
            FileInterrogationSuccess: lambda e: wiring.registry.register(e, remaining),
            NonStagedFileRequested: lambda e: wiring.stager.stage(e, remaining),
            FileDeletionRequested: wiring.deletion.on_requested,
        },
    )
