"""DCS settings (``DCS_*`` variables) and the wiring of its core to AWS and EKSS."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator

from functions.dcs.auth import DownloadAuthorizer
from functions.dcs.core import MAX_RANGE_BYTES, DownloadController, DownloadPolicy
from functions.dcs.records import DrsObjectRecord, EnvelopeRecord
from functions.dcs.repository import DynamoDrsRepository
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.config import load_config
from shared.logs import configure_logging
from shared.settings import ResourceSettings
from shared.tokens import TokenVerifier

DAY = 24 * 3600


class DcsConfig(ResourceSettings):
    wot_public_key: str = Field(min_length=1)  # PEM of WPS's ES256 key: verifies WOTs
    ekss_url: str = Field(min_length=1)
    ekss_token: SecretStr
    ekss_timeout_s: float = Field(default=10, gt=0, le=25)
    api_url: str = Field(min_length=1)  # this API's public URL; its host names DRS objects
    # access_url lifetime: GHGA's client reuses one URL for about 60 s
    presigned_url_lifetime_s: int = Field(default=3600, ge=60, le=7 * DAY)
    # 202 Retry-After = ceil(size / staging_bytes_per_s), within [min, max]
    retry_after_min_s: int = Field(default=5, ge=1, le=3600)
    retry_after_max_s: int = Field(default=300, ge=1, le=DAY)
    staging_bytes_per_s: int = Field(default=100_000_000, ge=1)
    staging_timeout_s: int = Field(default=600, ge=10, le=DAY)
    outbox_max_age_s: int = Field(default=7 * DAY, ge=60)
    max_range_bytes: int = Field(default=MAX_RANGE_BYTES, ge=1, le=MAX_RANGE_BYTES)

    @field_validator("api_url")
    @classmethod
    def _has_host(cls, url: str) -> str:
        if not urlparse(url).netloc:
            raise ValueError("must be an absolute URL such as https://host/dcs")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> DcsConfig:
        if self.retry_after_min_s > self.retry_after_max_s:
            raise ValueError("retry_after_min_s is larger than retry_after_max_s")
        if self.outbox_max_age_s < self.presigned_url_lifetime_s:
            raise ValueError(
                "outbox_max_age_s is shorter than presigned_url_lifetime_s: copies would be "
                "removed while their download URLs are still handed out"
            )
        self.require_resources(
            "DCS",
            buckets=["outbox"],
            tables=["drs_objects"],
            topics=["NonStagedFileRequested", "FileDownloadServed"],
        )
        return self

    def policy(self) -> DownloadPolicy:
        return DownloadPolicy(
            outbox_bucket=self.buckets["outbox"],
            drs_host=urlparse(self.api_url).netloc,
            presigned_url_lifetime_s=self.presigned_url_lifetime_s,
            retry_after_min_s=self.retry_after_min_s,
            retry_after_max_s=self.retry_after_max_s,
            staging_bytes_per_s=self.staging_bytes_per_s,
            staging_timeout_s=self.staging_timeout_s,
            outbox_max_age_s=self.outbox_max_age_s,
            max_range_bytes=self.max_range_bytes,
        )


@dataclass(frozen=True)
class Wiring:
    cfg: DcsConfig
    auth: DownloadAuthorizer
    downloads: DownloadController


@cache
def wiring() -> Wiring:
    cfg = load_config(DcsConfig, "DCS")
    configure_logging("dcs", cfg.log_level)
    bind(DrsObjectRecord, cfg.tables["drs_objects"])
    bind(EnvelopeRecord, cfg.tables["drs_objects"])
    downloads = DownloadController(
        repository=DynamoDrsRepository(),
        storage=S3Storage(),
        publisher=SnsPublisher(cfg.topics),
        keys=EkssClient(cfg.ekss_url, cfg.ekss_token.get_secret_value(), cfg.ekss_timeout_s),
        policy=cfg.policy(),
    )
    return Wiring(cfg, DownloadAuthorizer(TokenVerifier(cfg.wot_public_key)), downloads)
