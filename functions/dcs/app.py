"""DCS over HTTP, SQS and a schedule: translate into DownloadController calls and back.

``/objects/{id}`` and ``/objects/{id}/envelopes`` speak GHGA's wire format (wire.py);
``/objects/{id}/assembled`` is our extension: envelope + content as one ``.c4gh`` file, by
byte range.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice import Rate, Response

from functions.dcs import wire
from functions.dcs.core import Wait
from functions.dcs.errors import NotAcceptable, RangeNotSatisfiable
from functions.dcs.inject import inject
from shared.events import (
    FileDeletionRequested,
    FileInternallyRegistered,
    FileStagedForDownload,
    deliver,
)
from shared.http import ServiceApp, empty_response, error_response, json_response
from shared.resources import queue_for, schedule_rate

log = logging.getLogger("fs.dcs")

service = ServiceApp("dcs")
app = service.chalice

_NO_STORE = {"Cache-Control": "no-store"}


# the content size of a file being staged: our connector scales its wait with it (GHGA's
# client ignores the header); the DRS object gives the same size once the file is staged
CONTENT_SIZE_HEADER = "X-Content-Size"


def _wait(answer: Wait) -> Response:
    # GHGA's client reads Retry-After with int(): whole seconds only
    headers = {"Retry-After": str(answer.retry_after_s), **_NO_STORE}
    if answer.size is not None:
        headers[CONTENT_SIZE_HEADER] = str(answer.size)
    return empty_response(202, headers)


@service.route("/objects/{file_id}", methods=["GET"])
def get_drs_object(file_id: str):
    """The DRS object with a presigned outbox URL (200), or 202 + Retry-After while staging."""
    w = inject()
    reader = w.auth.reader(service.bearer_token(), file_id)
    answer = w.downloads.drs_object(file_id, reader)
    if isinstance(answer, Wait):
        return _wait(answer)
    return json_response(wire.drs_object(answer), headers=_NO_STORE)


@service.route("/objects/{file_id}/envelopes", methods=["GET"])
def get_envelope(file_id: str):
    """The Crypt4GH header for the token's key: standard base64 as plain text."""
    w = inject()
    reader = w.auth.reader(service.bearer_token(), file_id)
    envelope = w.downloads.envelope(file_id, reader)
    return Response(
        body=wire.envelope_text(envelope),
        status_code=200,
        headers={"Content-Type": "text/plain", **_NO_STORE},
    )


@service.route("/objects/{file_id}/assembled", methods=["GET", "HEAD"])
def get_assembled(file_id: str):
    """Envelope + content by byte range (206), whole if small (200); HEAD gives the size."""
    w = inject()
    reader = w.auth.reader(service.bearer_token(), file_id)
    if not wire.accepts_binary(service.headers().get("accept", "")):
        raise NotAcceptable(
            "This resource is binary: send 'Accept: application/octet-stream' (or */*)."
        )
    head = service.request.method == "HEAD"
    try:
        answer = w.downloads.assembled(file_id, reader, service.headers().get("range"), head=head)
    except RangeNotSatisfiable as error:
        return error_response(error, headers={"Content-Range": f"bytes */{error.data['size']}"})
    if isinstance(answer, Wait):
        return _wait(answer)
    headers = {"Content-Type": wire.BINARY, "Accept-Ranges": "bytes", **_NO_STORE}
    if head:
        return Response(b"", {**headers, "Content-Length": str(answer.total)}, 200)
    if answer.served is None:
        return Response(answer.data, headers, 200)
    headers["Content-Range"] = answer.served.content_range(answer.total)
    return Response(answer.data, headers, 206)


# ------------------------------------------------------------------ events


@app.on_sqs_message(queue=queue_for("dcs", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    """FileInternallyRegistered, FileStagedForDownload and FileDeletionRequested; anything
    else is dropped."""
    w = inject()
    deliver(
        event,
        {
            FileInternallyRegistered: w.downloads.on_registered,
            FileStagedForDownload: w.downloads.on_staged,
            FileDeletionRequested: w.deletion.on_deletion_requested,
        },
    )


# ------------------------------------------------------------------ schedule


@app.schedule(Rate(schedule_rate("dcs", "clean_outbox"), unit=Rate.MINUTES))
def clean_outbox(event: Any) -> dict[str, int]:
    """Remove outbox copies not requested for DCS_OUTBOX_MAX_AGE_S."""
    return inject().downloads.clean_outbox()
