"""EKSS over HTTP (service to service only): translate requests into SecretKeeper calls."""

from __future__ import annotations

from typing import Any

from functions.ekss import wire
from functions.ekss.errors import NotAuthorized
from functions.ekss.inject import inject
from shared.events import FileDeletionRequested, deliver
from shared.http import ServiceApp, empty_response, json_response
from shared.resources import queue_for
from shared.tokens import matches_hash

service = ServiceApp("ekss")
app = service.chalice

_NO_STORE = {"Cache-Control": "no-store"}


def _authorize() -> None:
    if not matches_hash(service.bearer_token(), inject().cfg.service_token_sha256):
        raise NotAuthorized()


@service.route("/secrets", methods=["POST"])
def create_secret():
    """Open an upload's header, store the (file's one) secret; both secrets go back, base64."""
    _authorize()
    request = service.body(wire.SecretRequest)
    created = inject().keeper.create_secret(
        request.public_key, wire.file_part(request.file_part), request.file_id_text()
    )
    return json_response(wire.created_json(created), headers=_NO_STORE)


@service.route("/secrets/{secret_id}/envelopes/{client_pk}", methods=["GET"])
def get_envelope(secret_id: str, client_pk: str):
    """The secret in a Crypt4GH header for the client key (url-safe or standard base64)."""
    _authorize()
    reader = wire.reader_key(client_pk)
    envelope = inject().keeper.envelope(wire.secret_id(secret_id), reader)
    return json_response(wire.envelope_json(envelope), headers=_NO_STORE)


@service.route("/secrets/{secret_id}", methods=["DELETE"])
def delete_secret(secret_id: str):
    """Remove a secret for good; deleting an unknown id succeeds too."""
    _authorize()
    inject().keeper.delete(wire.secret_id(secret_id))
    return empty_response(204)


@app.on_sqs_message(queue=queue_for("ekss", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    """FileDeletionRequested: the file's secret goes, a tombstone stays; then confirmed."""
    deliver(event, {FileDeletionRequested: inject().deletion.on_requested})
