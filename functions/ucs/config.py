"""UCS's settings, read from ``UCS_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from functions.ucs.core import UploadPolicy
from shared.multipart import MAX_OBJECT_SIZE, MIB
from shared.resources import DECLARATION
from shared.settings import ResourceSettings


class UcsConfig(ResourceSettings):
    wot_public_key: str = Field(min_length=1)  # PEM of WPS's ES256 key: verifies WOTs
    operator_token_sha256: str = Field(min_length=64, max_length=64)
    storage_alias: str = Field(min_length=1)  # the key in WKVS's crypt4gh_public_keys
    max_open_uploads_per_box: int = Field(default=100, ge=1)
    # a box made without a size holds the largest file S3 can store (5 TiB encrypted)
    default_box_max_size: int = Field(default=MAX_OBJECT_SIZE, ge=1)
    # A part URL lives part_url_min_lifetime_s (the client's own retries of one PUT with the
    # same URL: GHGA's makes up to three attempts of a 60 s timeout each) plus the part's
    # bytes at part_url_bytes_per_s (the slowest uplink allowed for), at most
    # part_url_max_lifetime_s: 5 min 16 s for a 16 MiB part, the maximum from about 3.2 GiB.
    part_url_min_lifetime_s: int = Field(default=300, ge=60, le=3600)
    part_url_bytes_per_s: int = Field(default=MIB, ge=1)
    part_url_max_lifetime_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # uploads still open with no sign of life for this long (no part URL asked for, no part
    # stored) are cancelled by the scheduled clean-up
    abandoned_upload_age_s: int = Field(default=7 * 24 * 3600, ge=0)
    # a closed upload whose FileUploadReceived was not recorded as published this long after
    # its close (the close died, its publish failed) is announced by the clean-up; above
    # the function's time limit, so that a close still running is not announced twice
    announce_grace_s: int = Field(default=300, ge=0)
    # what a 429 asks the client to wait (Retry-After, integer seconds)
    retry_after_s: int = Field(default=30, ge=1, le=3600)
    # embedded stack only: moto's DynamoDB is not atomic under concurrent writes
    serialize_writes: bool = False

    @model_validator(mode="after")
    def _resources_declared(self) -> UcsConfig:
        if self.part_url_min_lifetime_s > self.part_url_max_lifetime_s:
            raise ValueError("part_url_min_lifetime_s is larger than part_url_max_lifetime_s")
        if self.announce_grace_s < DECLARATION.function("ucs").timeout_s:
            raise ValueError("announce_grace_s is shorter than a close may run")
        self.require_resources(
            "UCS",
            buckets=["inbox"],
            tables=["boxes", "uploads"],
            topics=["FileUploadReceived", "FileDeletionRequested", "FileDeleted"],
        )
        return self

    def policy(self) -> UploadPolicy:
        return UploadPolicy(
            inbox_bucket=self.buckets["inbox"],
            storage_alias=self.storage_alias,
            max_open_uploads_per_box=self.max_open_uploads_per_box,
            retry_after_s=self.retry_after_s,
            part_url_min_lifetime_s=self.part_url_min_lifetime_s,
            part_url_bytes_per_s=self.part_url_bytes_per_s,
            part_url_max_lifetime_s=self.part_url_max_lifetime_s,
        )

    def abandoned_upload_age(self) -> timedelta:
        return timedelta(seconds=self.abandoned_upload_age_s)

    def announce_grace(self) -> timedelta:
        return timedelta(seconds=self.announce_grace_s)
