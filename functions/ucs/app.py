"""UCS over HTTP: upload boxes (operator) and file uploads (work order tokens).

Routes only translate: check who calls, parse the body, call the core, shape the answer.
The wire format of the upload routes is GHGA's (docs/ghga-wire-format.md §4).
"""

from __future__ import annotations

from typing import Any

from chalice import Rate

from functions.ucs import wire
from functions.ucs.inject import inject
from shared.errors import TooManyRequests
from shared.events import (
    FileDeletionConfirmed,
    FileInternallyRegistered,
    FileInterrogationFailure,
    FileInterrogationSuccess,
    deliver,
)
from shared.http import ServiceApp, empty_response, error_response, json_response, validate
from shared.resources import DECLARATION, queue_for, schedule_rate
from shared.tokens import require

service = ServiceApp("ucs")
app = service.chalice


# ------------------------------------------------------------------ operator: boxes


@service.route("/boxes", methods=["POST"])
def create_box():
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    body = service.body(wire.CreateBoxBody)
    box = w.boxes.create(body.max_size, body.description, shared=body.shared)
    return json_response(wire.box_json(box), status=201)


@service.route("/boxes/{box_id}", methods=["GET"])
def get_box(box_id: str):
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    return wire.box_json(w.boxes.get(box_id))


@service.route("/boxes/{box_id}", methods=["PATCH"])
def update_box(box_id: str):
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    body = service.body(wire.UpdateBoxBody)
    return wire.box_json(w.boxes.update(box_id, locked=body.locked, shared=body.shared))


@service.route("/boxes/{box_id}", methods=["DELETE"])
def delete_box(box_id: str):
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    w.boxes.delete(box_id)
    return empty_response()


@service.route("/uploads/{file_id}", methods=["GET"])
def get_upload(file_id: str):
    """The state of one upload and of its purge, for ``fs-admin file-status``."""
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    upload = w.uploads.find_upload(file_id)
    return wire.upload_detail_json(upload, w.cfg.storage_alias, w.deletions.holders)


@service.route("/uploads/{file_id}", methods=["DELETE"])
def purge_upload(file_id: str):
    """The operator's purge (``fs-admin delete-file``): 202 while holders have not all
    confirmed, 200 once FileDeleted was published. Repeating it publishes the request
    again until the purge is complete."""
    w = inject()
    service.require_operator(w.cfg.operator_token_sha256)
    body = service.body(wire.PurgeBody)
    upload, recorded = w.deletions.purge(file_id, body.reason)
    answer = wire.purge_json(upload, recorded, w.deletions.holders)
    return json_response(answer, status=200 if upload.file_deleted_published else 202)


# ------------------------------------------------------------------ submitters: uploads


def _submitter(w: Any, claims: dict[str, Any]) -> Any:
    """The upload controller for the token's submitter: in a private box, their own
    uploads only (functions/ucs/boxes.py)."""
    return w.uploads.acting_for(claims.get("user_id"))


@service.route("/boxes/{box_id}/uploads", methods=["GET"])
def list_uploads(box_id: str):
    w = inject()
    token = service.bearer_token()
    uploads = w.uploads  # the operator sees every upload; a submitter their own (boxes.py)
    if not w.auth.is_operator(token):
        uploads = _submitter(w, w.auth.work_order(token, "view", box_id))
    query = validate(service.query(), wire.ListQuery)
    items, total = uploads.list_uploads(box_id, query.skip, query.limit)
    return wire.upload_list_json(items, total)


@service.route("/boxes/{box_id}/uploads", methods=["POST"])
def create_upload(box_id: str):
    """Start an upload. A create repeated for an alias that is already open (e.g. GHGA's
    client retrying after a lost 201) gets 409 fileUploadAlreadyExists, not the first
    answer again: the client lists the box before uploading and skips what is there."""
    w = inject()
    claims = w.auth.work_order(service.bearer_token(), "create", box_id)
    body = service.body(wire.CreateUploadBody)
    require(claims, alias=body.alias)
    try:
        upload = _submitter(w, claims).create_upload(
            box_id, body.new_upload(), created_by=claims.get("user_id")
        )
    except TooManyRequests as error:
        return error_response(error, headers={"Retry-After": str(w.cfg.retry_after_s)})
    return json_response(wire.created_json(upload, w.cfg.storage_alias), status=201)


@service.route("/boxes/{box_id}/uploads/{file_id}/parts/{part_no}", methods=["GET"])
def part_upload_url(box_id: str, file_id: str, part_no: str):
    """A presigned PUT of one part; ``?sha256=<hex>`` (the wire extension, uploads
    created with part_checksum) signs the part's SHA-256 into it."""
    w = inject()
    claims = w.auth.work_order(service.bearer_token(), "upload", box_id, file_id=file_id)
    number, sha256 = wire.part_number(part_no), wire.part_checksum(service.query())
    return json_response(_submitter(w, claims).part_url(box_id, file_id, number, sha256))


@service.route("/boxes/{box_id}/uploads/{file_id}/parts", methods=["GET"])
def stored_parts(box_id: str, file_id: str):
    """For resume: the parts S3 already has (number, size, ETag)."""
    w = inject()
    claims = w.auth.work_order(service.bearer_token(), "upload", box_id, file_id=file_id)
    return wire.stored_parts_json(*_submitter(w, claims).stored_parts(box_id, file_id))


@service.route("/boxes/{box_id}/uploads/{file_id}", methods=["PATCH"])
def close_upload(box_id: str, file_id: str):
    w = inject()
    claims = w.auth.work_order(service.bearer_token(), "close", box_id, file_id=file_id)
    body = service.body(wire.CloseUploadBody)
    _submitter(w, claims).close(
        box_id, file_id, body.checksums(), str(claims.get("user_public_crypt4gh_key", ""))
    )
    return empty_response()


@service.route("/boxes/{box_id}/uploads/{file_id}", methods=["DELETE"])
def delete_upload(box_id: str, file_id: str):
    w = inject()
    claims = w.auth.work_order(service.bearer_token(), "delete", box_id, file_id=file_id)
    _submitter(w, claims).delete(box_id, file_id, requested_by=claims.get("user_id"))
    return empty_response()


# ------------------------------------------------------------------ schedule


# leave a third of the function's time limit for the last item and the answer
CLEANUP_BUDGET_S = DECLARATION.function("ucs").timeout_s * 2 / 3


@app.schedule(Rate(schedule_rate("ucs", "clean_abandoned_uploads"), unit=Rate.MINUTES))
def clean_abandoned_uploads(event: Any) -> dict[str, int | bool]:
    """Announce closes whose event is overdue; cancel uploads without a sign of life for
    UCS_ABANDONED_UPLOAD_AGE_S; abort orphaned multipart uploads (functions/ucs/cleanup.py)."""
    w = inject()
    return w.cleaner.run(w.cfg.abandoned_upload_age(), budget_s=CLEANUP_BUDGET_S)


# ------------------------------------------------------------------ outcomes (events)


@app.on_sqs_message(queue=queue_for("ucs", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    """Interrogation and registration outcomes move the upload's state forward; the
    holders' deletion confirmations complete a purge."""
    w = inject()
    outcomes = w.outcomes
    deliver(
        event,
        {
            FileInterrogationSuccess: lambda e: outcomes.accepted(e.file_id),
            FileInterrogationFailure: lambda e: outcomes.rejected(e.file_id, e.reason),
            FileInternallyRegistered: lambda e: outcomes.registered(e.file_id),
            FileDeletionConfirmed: w.deletions.confirmed,
        },
    )
