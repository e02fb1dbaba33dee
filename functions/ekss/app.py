"""EKSS over HTTP (service to service only): translate requests into SecretKeeper calls.

Each caller has its own credential and its own routes: IRS creates (and gets back) the
secret of the file it interrogates, DCS gets envelopes for the readers of registered files.
A valid credential on another caller's route is 403 ``wrongCaller``; none or an unknown one
is 401. Only the deletion flow (events) removes a secret: there is no route for it.
"""

from __future__ import annotations

from typing import Any

from functions.ekss import wire
from functions.ekss.errors import NotAuthorized, WrongCaller
from functions.ekss.inject import inject
from shared.events import (
    FileDeletionRequested,
    FileInternallyRegistered,
    FileInterrogationFailure,
    deliver,
)
from shared.http import ServiceApp, json_response
from shared.resources import queue_for
from shared.tokens import matches_hash

# on AWS, not reachable from the internet: only IAM-signed calls of IRS and DCS (infra/iam.py)
service = ServiceApp("ekss", iam_only=True)
app = service.chalice

_NO_STORE = {"Cache-Control": "no-store"}


def _authorize(caller: str) -> None:
    """The route's caller ("irs" or "dcs") by its token (X-Service-Token or bearer)."""
    cfg = inject().cfg
    hashes = {"irs": cfg.irs_token_sha256, "dcs": cfg.dcs_token_sha256}
    token = wire.caller_token(service.headers())
    if matches_hash(token, hashes[caller]):
        return
    if any(matches_hash(token, other) for name, other in hashes.items() if name != caller):
        raise WrongCaller()
    raise NotAuthorized()


@service.route("/secrets", methods=["POST"])
def create_secret():
    """IRS: the secrets of the file it interrogates (header read from the inbox), base64."""
    _authorize("irs")
    request = service.body(wire.SecretRequest)
    created = inject().keeper.create_secret(str(request.file_id), request.public_key)
    return json_response(wire.created_json(created), headers=_NO_STORE)


@service.route("/secrets/{secret_id}/envelopes/{client_pk}", methods=["GET"])
def get_envelope(secret_id: str, client_pk: str):
    """DCS: the secret in a Crypt4GH header for the client key (url-safe or standard
    base64), for the key of the reader's download work order (X-Work-Order-Token)."""
    _authorize("dcs")
    w = inject()
    reader = wire.reader_key(client_pk)
    secret = wire.secret_id(secret_id)
    w.orders.check(service.headers().get(wire.WORK_ORDER_HEADER), secret, reader)
    envelope = w.keeper.envelope(secret, reader)
    return json_response(wire.envelope_json(envelope), headers=_NO_STORE)


@app.on_sqs_message(queue=queue_for("ekss", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    """FileDeletionRequested and FileInterrogationFailure: the file's secret goes, a
    tombstone stays (a deletion is then confirmed); FileInternallyRegistered: envelopes of
    the file's secret from now on."""
    w = inject()
    deliver(
        event,
        {
            FileDeletionRequested: w.deletion.on_requested,
            FileInterrogationFailure: w.deletion.on_failure,
            FileInternallyRegistered: lambda e: w.keeper.mark_registered(e.file_id),
        },
    )
