"""WPS settings (``WPS_*`` variables)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, model_validator

from functions.wps.model import PACKAGE_LIFETIME_DAYS, WOT_LIFETIME_S
from shared.resources import DECLARATION
from shared.settings import ResourceSettings


class WpsConfig(ResourceSettings):
    signing_key: SecretStr
    operator_token_sha256: str = Field(min_length=64, max_length=64)
    wot_lifetime_s: int = Field(default=WOT_LIFETIME_S, ge=5, le=600)
    package_lifetime_days: int = Field(default=PACKAGE_LIFETIME_DAYS, ge=1, le=365)

    @model_validator(mode="after")
    def _resources(self) -> WpsConfig:
        # the audit events' topics (shared/resources.py: publishers["wps"])
        self.require_resources(
            "WPS", tables=["work_packages"], topics=DECLARATION.publishers["wps"]
        )
        return self

    def package_lifetime(self) -> timedelta:
        return timedelta(days=self.package_lifetime_days)
