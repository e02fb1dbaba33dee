"""DCS settings (``DCS_*`` variables): each default and bound is written here, once.

The core's DownloadPolicy has no defaults of its own: ``policy()`` hands it every setting
of the same name, so a new setting is a field here and a field there, nothing more.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator

from functions.dcs.core import DownloadPolicy
from functions.dcs.model import MAX_RANGE_BYTES
from shared.multipart import MIB
from shared.settings import ResourceSettings

DAY = 24 * 3600


class DcsConfig(ResourceSettings):
    wot_public_key: str = Field(min_length=1)  # PEM of WPS's ES256 key: verifies WOTs
    ekss_url: str = Field(min_length=1)
    ekss_token: SecretStr
    # SigV4-sign the calls to EKSS, the token in X-Service-Token: on AWS (infra/settings.py)
    ekss_sign: bool = False
    ekss_timeout_s: float = Field(default=10, gt=0, le=25)
    api_url: str = Field(min_length=1)  # this API's public URL; its host names DRS objects
    # access_url lifetime: GHGA's client reuses one URL for about 60 s
    presigned_url_lifetime_s: int = Field(default=3600, ge=60, le=7 * DAY)
    # 202 Retry-After = ceil(size / staging_bytes_per_s), within [min, max]
    retry_after_min_s: int = Field(default=5, ge=1, le=3600)
    retry_after_max_s: int = Field(default=300, ge=1, le=DAY)
    staging_bytes_per_s: int = Field(default=100_000_000, ge=1)
    # a staging request unanswered for staging_timeout_s + size / staging_copy_bytes_per_s
    # is made again: a quarter of IFRS's planned rate (16 UploadPartCopy streams of about
    # 60 MiB/s), so a lost request is made again within hours, not days; a copy still
    # running when it is asked for again drops the repeat (its lease is held)
    staging_timeout_s: int = Field(default=600, ge=10, le=DAY)
    staging_copy_bytes_per_s: int = Field(default=200 * MIB, ge=1)
    outbox_max_age_s: int = Field(default=7 * DAY, ge=60)
    max_range_bytes: int = Field(default=MAX_RANGE_BYTES, ge=1, le=MAX_RANGE_BYTES)
    # a read (reader, file, access, range) repeated within this many seconds is audited
    # once (functions/dcs/audit.py): as long as a DRS object's URL serves, by default
    audit_window_s: int = Field(default=3600, ge=1, le=7 * DAY)
    # partial /assembled reads of one file itemised per reader and window; one event with
    # more_ranges stands for the rest (a whole file read by range must not flood the audit)
    audit_max_ranges: int = Field(default=256, ge=1, le=100_000)

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
            topics=["NonStagedFileRequested", "FileDownloadServed", "FileDeletionConfirmed"],
        )
        return self

    def policy(self) -> DownloadPolicy:
        """The core's policy: the outbox and DRS host from the resources, the rest by name."""
        return DownloadPolicy(
            outbox_bucket=self.buckets["outbox"],
            drs_host=urlparse(self.api_url).netloc,
            **{name: getattr(self, name) for name in POLICY_SETTINGS},
        )


# the policy's fields that are settings of the same name (the others are derived above)
POLICY_SETTINGS = tuple(
    field.name
    for field in dataclasses.fields(DownloadPolicy)
    if field.name in DcsConfig.model_fields
)
