"""UCS over HTTP: upload boxes (operator) and file uploads (work order tokens).

Routes only translate: check who calls, parse the body, call the core, shape the answer.
The wire format of the upload routes is GHGA's (docs/ghga-wire-format.md §4).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from chalice import Rate

from functions.ucs import wire
from functions.ucs.auth import Authorizer
from functions.ucs.boxes import BoxAdmin
from functions.ucs.cleanup import AbandonedUploadCleaner
from functions.ucs.config import UcsConfig
from functions.ucs.core import NewUpload, UploadController, UploadPolicy
from functions.ucs.outcomes import OutcomeRecorder
from functions.ucs.records import BoxRecord, UploadAliasRecord, UploadRecord
from functions.ucs.repository import DynamoUcsRepository
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.errors import TooManyRequests, Unprocessable
from shared.events import deliver
from shared.http import ServiceApp, empty_response, error_response, json_response, validate
from shared.logs import configure_logging
from shared.resources import DECLARATION, queue_for, schedule_rate
from shared.tokens import TokenVerifier, require

log = logging.getLogger("fs.ucs")


@dataclass(frozen=True)
class Wiring:
    cfg: UcsConfig
    auth: Authorizer
    uploads: UploadController
    boxes: BoxAdmin
    cleaner: AbandonedUploadCleaner
    outcomes: OutcomeRecorder


@cache
def wiring() -> Wiring:
    cfg = load_config(UcsConfig, "UCS")
    configure_logging("ucs", cfg.log_level)
    bind(BoxRecord, cfg.tables["boxes"])
    bind(UploadRecord, cfg.tables["uploads"])
    bind(UploadAliasRecord, cfg.tables["uploads"])
    repository = DynamoUcsRepository(serialize_writes=cfg.serialize_writes)
    policy = UploadPolicy(
        inbox_bucket=cfg.buckets["inbox"],
        storage_alias=cfg.storage_alias,
        max_open_uploads_per_box=cfg.max_open_uploads_per_box,
        part_url_lifetime_s=cfg.part_url_lifetime_s,
        retry_after_s=cfg.retry_after_s,
    )
    storage = S3Storage()
    uploads = UploadController(repository, storage, SnsPublisher(cfg.topics), policy)
    return Wiring(
        cfg=cfg,
        auth=Authorizer(TokenVerifier(cfg.wot_public_key), cfg.operator_token_sha256),
        uploads=uploads,
        boxes=BoxAdmin(repository, cfg.default_box_max_size),
        cleaner=AbandonedUploadCleaner(uploads, repository, storage, policy.inbox_bucket),
        outcomes=OutcomeRecorder(
            repository, storage, policy.inbox_bucket, lambda: datetime.now(UTC)
        ),
    )


service = ServiceApp("ucs")
app = service.chalice


def _part_number(raw: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,9}", raw):
        raise Unprocessable("part_no must be an integer.", exception_id="validationError")
    return int(raw)


# ------------------------------------------------------------------ operator: boxes


@service.route("/boxes", methods=["POST"])
def create_box():
    w = wiring()
    service.require_operator(w.cfg.operator_token_sha256)
    body = service.body(wire.CreateBoxBody)
    return json_response(wire.box_json(w.boxes.create(body.max_size, body.description)), status=201)


@service.route("/boxes/{box_id}", methods=["GET"])
def get_box(box_id: str):
    w = wiring()
    service.require_operator(w.cfg.operator_token_sha256)
    return wire.box_json(w.boxes.get(box_id))


@service.route("/boxes/{box_id}", methods=["PATCH"])
def update_box(box_id: str):
    w = wiring()
    service.require_operator(w.cfg.operator_token_sha256)
    body = service.body(wire.UpdateBoxBody)
    return wire.box_json(w.boxes.set_locked(box_id, body.locked))


@service.route("/boxes/{box_id}", methods=["DELETE"])
def delete_box(box_id: str):
    w = wiring()
    service.require_operator(w.cfg.operator_token_sha256)
    w.boxes.delete(box_id)
    return empty_response()


@service.route("/uploads/{file_id}", methods=["GET"])
def get_upload(file_id: str):
    """The state of one upload, for ``fs-admin file-status``."""
    w = wiring()
    service.require_operator(w.cfg.operator_token_sha256)
    return wire.upload_detail_json(w.uploads.get_upload(file_id), w.cfg.storage_alias)


# ------------------------------------------------------------------ submitters: uploads


@service.route("/boxes/{box_id}/uploads", methods=["GET"])
def list_uploads(box_id: str):
    w = wiring()
    token = service.bearer_token()
    if not w.auth.is_operator(token):
        w.auth.work_order(token, "view", box_id)
    query = validate(service.query(), wire.ListQuery)
    items, total = w.uploads.list_uploads(box_id, query.skip, query.limit)
    return {"items": [wire.upload_json(u) for u in items], "total_count": total}


@service.route("/boxes/{box_id}/uploads", methods=["POST"])
def create_upload(box_id: str):
    """Start an upload. A create repeated for an alias that is already open (e.g. GHGA's
    client retrying after a lost 201) gets 409 fileUploadAlreadyExists, not the first
    answer again: the client lists the box before uploading and skips what is there."""
    w = wiring()
    claims = w.auth.work_order(service.bearer_token(), "create", box_id)
    body = service.body(wire.CreateUploadBody)
    require(claims, alias=body.alias)
    request = NewUpload(
        alias=body.alias,
        decrypted_size=body.decrypted_size,
        encrypted_size=body.encrypted_size,
        part_size=body.part_size,
        overwrite=body.overwrite,
    )
    try:
        upload = w.uploads.create_upload(box_id, request, created_by=claims.get("user_id"))
    except TooManyRequests as error:
        return error_response(error, headers={"Retry-After": str(w.cfg.retry_after_s)})
    body_out = {"file_id": upload.id, "alias": upload.alias, "storage_alias": w.cfg.storage_alias}
    return json_response(body_out, status=201)


@service.route("/boxes/{box_id}/uploads/{file_id}/parts/{part_no}", methods=["GET"])
def part_upload_url(box_id: str, file_id: str, part_no: str):
    w = wiring()
    w.auth.work_order(service.bearer_token(), "upload", box_id, file_id=file_id)
    return json_response(w.uploads.part_url(box_id, file_id, _part_number(part_no)))


@service.route("/boxes/{box_id}/uploads/{file_id}/parts", methods=["GET"])
def stored_parts(box_id: str, file_id: str):
    """For resume: the parts S3 already has (number, size, ETag)."""
    w = wiring()
    w.auth.work_order(service.bearer_token(), "upload", box_id, file_id=file_id)
    upload, parts = w.uploads.stored_parts(box_id, file_id)
    return {
        "file_id": upload.id,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "parts": [{"part_number": p.number, "size": p.size, "etag": p.etag} for p in parts],
    }


@service.route("/boxes/{box_id}/uploads/{file_id}", methods=["PATCH"])
def close_upload(box_id: str, file_id: str):
    w = wiring()
    claims = w.auth.work_order(service.bearer_token(), "close", box_id, file_id=file_id)
    body = service.body(wire.CloseUploadBody)
    w.uploads.close(
        box_id, file_id, body.checksums(), str(claims.get("user_public_crypt4gh_key", ""))
    )
    return empty_response()


@service.route("/boxes/{box_id}/uploads/{file_id}", methods=["DELETE"])
def delete_upload(box_id: str, file_id: str):
    w = wiring()
    w.auth.work_order(service.bearer_token(), "delete", box_id, file_id=file_id)
    w.uploads.delete(box_id, file_id)
    return empty_response()


# ------------------------------------------------------------------ schedule


# leave a third of the function's time limit for the last item and the answer
CLEANUP_BUDGET_S = DECLARATION.function("ucs").timeout_s * 2 / 3


@app.schedule(Rate(schedule_rate("ucs", "clean_abandoned_uploads"), unit=Rate.MINUTES))
def clean_abandoned_uploads(event: Any) -> dict[str, int | bool]:
    """Cancel uploads open longer than UCS_ABANDONED_UPLOAD_AGE_S; abort orphaned ones."""
    w = wiring()
    max_age = timedelta(seconds=w.cfg.abandoned_upload_age_s)
    return w.cleaner.run(max_age, budget_s=CLEANUP_BUDGET_S)


# ------------------------------------------------------------------ outcomes (events)


@app.on_sqs_message(queue=queue_for("ucs", "on_event"), batch_size=1)
def on_event(event: Any) -> None:
    """Interrogation and registration outcomes move the upload's state forward."""
    outcomes = wiring().outcomes
    deliver(
        event,
        {
            "FileInterrogationSuccess": lambda e: outcomes.accepted(e.file_id),
            "FileInterrogationFailure": lambda e: outcomes.rejected(e.file_id, e.reason),
            "FileInternallyRegistered": lambda e: outcomes.registered(e.file_id),
        },
    )
