"""IRS as a Lambda: each message on its queue becomes one call on the Interrogator (or, for
a deletion, on the Deletion).

The queue carries S3 notifications of the inbox (UCS's part manifests among them, which
the core drops), FileUploadReceived and FileDeletionRequested events and IRS's own
continuations (wire.py tells them apart). A handler that raises leaves the message on the
queue for a retry (dead-lettered after maxReceiveCount): that is what happens when the key
store or AWS is unavailable, never when the upload itself is bad.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Chalice

from functions.irs.inject import inject
from functions.irs.model import Upload
from functions.irs.wire import Continuation, parse
from shared.events import FileDeletionRequested
from shared.resources import queue_for

log = logging.getLogger("fs.irs")

app = Chalice(app_name="irs")


@app.on_sqs_message(queue=queue_for("irs", "on_inbox_object"), batch_size=1)
def on_inbox_object(event: Any) -> None:
    wiring = inject()
    irs = wiring.interrogator
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    for record in event:
        message = parse(record.body)
        if isinstance(message, Upload):
            irs.upload_received(message, remaining)
        elif isinstance(message, FileDeletionRequested):
            wiring.deletion.file_deletion_requested(message)
        elif isinstance(message, Continuation):
            irs.resume(message.object_key, remaining)
        elif isinstance(message, list):
            for created in message:
                if created.bucket != wiring.cfg.buckets["inbox"]:
                    log.warning("notification for another bucket ignored")
                    continue
                irs.object_created(created.key, created.size, remaining)
        else:
            log.info(
                "message needs nothing; dropped",
                extra={"message_id": record.to_dict().get("messageId")},
            )
