"""WPS over HTTP: translate requests into WorkPackageService calls and back."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from functions.wps.core import WorkPackageService
from functions.wps.records import WorkPackageRecord
from functions.wps.repository import DynamoWorkPackageRepository
from shared.adapters.dynamo import bind
from shared.config import load_config
from shared.crypt.keys import KeyFormatError
from shared.errors import Unprocessable
from shared.http import ServiceApp, json_response
from shared.logs import configure_logging
from shared.settings import ResourceSettings
from shared.tokens import TokenSigner


class WpsConfig(ResourceSettings):
    signing_key: SecretStr
    operator_token_sha256: str = Field(min_length=64, max_length=64)
    wot_lifetime_s: int = Field(default=30, ge=5, le=600)
    package_lifetime_days: int = Field(default=30, ge=1, le=365)


@cache
def core() -> tuple[WpsConfig, WorkPackageService]:
    cfg = load_config(WpsConfig, "WPS")
    configure_logging("wps", cfg.log_level)
    bind(WorkPackageRecord, cfg.tables["work_packages"])
    signer = TokenSigner(cfg.signing_key.get_secret_value(), cfg.wot_lifetime_s)
    return cfg, WorkPackageService(
        DynamoWorkPackageRepository(), signer, timedelta(days=cfg.package_lifetime_days)
    )


service = ServiceApp("wps")
app = service.chalice


class CreateWorkPackage(BaseModel):
    type: Literal["download", "upload"]
    user_public_crypt4gh_key: str = Field(min_length=40, max_length=60)
    user_id: str | None = Field(default=None, max_length=200)
    file_ids: list[str] | None = Field(default=None, max_length=10_000)
    file_extensions: dict[str, str] | None = None
    file_upload_box_id: str | None = None
    research_data_upload_box_id: str | None = None
    lifetime_days: int | None = Field(default=None, ge=1, le=365)


class UploadTokenRequest(BaseModel):
    work_type: Literal["create", "upload", "close", "delete", "view"]
    alias: str | None = Field(default=None, max_length=1024)
    file_id: str | None = None


@service.route("/work-packages", methods=["POST"])
def create_work_package():
    """Operator only: a new work package; the token comes back encrypted to the user."""
    cfg, wps = core()
    service.require_operator(cfg.operator_token_sha256)
    request = service.body(CreateWorkPackage)
    try:
        created = wps.create(
            type=request.type,
            user_public_crypt4gh_key=request.user_public_crypt4gh_key,
            user_id=request.user_id,
            file_ids=request.file_ids,
            file_extensions=request.file_extensions,
            file_upload_box_id=request.file_upload_box_id,
            research_data_upload_box_id=request.research_data_upload_box_id,
            lifetime=timedelta(days=request.lifetime_days) if request.lifetime_days else None,
        )
    except KeyFormatError as error:
        raise Unprocessable(
            f"user_public_crypt4gh_key is not a Crypt4GH public key: {error}",
            exception_id="invalidPublicKey",
        ) from error
    return json_response(
        {"id": created.id, "token": created.sealed_token, "expires": created.expires.isoformat()},
        status=201,
    )


@service.route("/work-packages/{package_id}", methods=["GET"])
def get_work_package(package_id: str):
    _, wps = core()
    package = wps.authorize(package_id, service.bearer_token())
    return json_response(wps.describe(package), headers={"Cache-Control": "private, no-store"})


@service.route("/work-packages/{package_id}/files/{file_id}/work-order-tokens", methods=["POST"])
def download_work_order_token(package_id: str, file_id: str):
    _, wps = core()
    package = wps.authorize(package_id, service.bearer_token())
    return _token_response(wps.download_token(package, file_id))


@service.route("/work-packages/{package_id}/boxes/{box_id}/work-order-tokens", methods=["POST"])
def upload_work_order_token(package_id: str, box_id: str):
    _, wps = core()
    package = wps.authorize(package_id, service.bearer_token())
    request = service.body(UploadTokenRequest)
    token = wps.upload_token(package, box_id, request.work_type, request.alias, request.file_id)
    return _token_response(token)


def _token_response(sealed: str):
    # a WOT lives ~30 s; caches may keep it only briefly and only for this user
    return json_response(sealed, status=201, headers={"Cache-Control": "private, max-age=5"})
