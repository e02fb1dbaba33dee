"""IRS settings (``IRS_*`` variables); the defaults are the core's, from model.py."""

from __future__ import annotations

from pydantic import Field, SecretStr

from functions.irs.model import (
    DEFAULT_MAX_PART_SIZE,
    INVOCATION_BUDGET_S,
    MIN_PART_SIZE,
    SAFETY_MARGIN_S,
    Settings,
)
from shared.settings import ResourceSettings


class IrsConfig(ResourceSettings):
    ekss_url: str = Field(min_length=1)
    ekss_token: SecretStr
    # SigV4-sign the calls to EKSS, the token in X-Service-Token: on AWS (infra/settings.py)
    ekss_sign: bool = False
    ekss_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # when to hand the rest of a file to a next invocation: after this much work, after
    # this many parts (0: no limit; tests force continuations with it), or when fewer than
    # safety_margin_s seconds of the Lambda's own time are left
    invocation_budget_s: float = Field(default=INVOCATION_BUDGET_S, ge=0)
    max_parts_per_invocation: int = Field(default=0, ge=0)
    safety_margin_s: float = Field(default=SAFETY_MARGIN_S, ge=0)
    max_staging_part_size: int = Field(default=DEFAULT_MAX_PART_SIZE, ge=MIN_PART_SIZE)

    def settings(self) -> Settings:
        """The core's policy, with the buckets of the declaration."""
        return Settings(
            inbox_bucket=self.buckets["inbox"],
            staging_bucket=self.buckets["staging"],
            max_staging_part_size=self.max_staging_part_size,
            invocation_budget_s=self.invocation_budget_s,
            max_parts_per_invocation=self.max_parts_per_invocation,
            safety_margin_s=self.safety_margin_s,
        )
