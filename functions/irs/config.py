"""IRS settings (``IRS_*`` variables); the defaults are the core's, from model.py (the
staged part size's floor too, which the core's own Settings leave at the upload's size)."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr

from functions.irs.model import (
    DEFAULT_MIN_STAGING_PART_SIZE,
    INVOCATION_BUDGET_S,
    SAFETY_MARGIN_S,
    Settings,
)
from functions.irs.sizing import MIN_PART_SIZE, RUNTIME_RESERVE_MB
from shared.limits import LAMBDA_MAX_MEMORY_MB
from shared.resources import DECLARATION
from shared.settings import ResourceSettings

# set by Lambda itself: the memory the function really has
LAMBDA_MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def function_memory_mb() -> int:
    """The function's memory: Lambda's own word when deployed, else the declaration's."""
    found = os.environ.get(LAMBDA_MEMORY_ENV, "")
    return int(found) if found.isdigit() else DECLARATION.function("irs").memory_mb


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
    # the memory the staged parts are sized for (functions/irs/sizing.py); an explicit cap
    # on the staged part size below what it allows (unset: none)
    memory_mb: int = Field(
        default_factory=function_memory_mb, gt=RUNTIME_RESERVE_MB, le=LAMBDA_MAX_MEMORY_MB
    )
    max_staging_part_size: int | None = Field(default=None, ge=MIN_PART_SIZE)
    # the smallest staged part (sizing.py; 0: the upload's own part size)
    min_staging_part_size: int = Field(default=DEFAULT_MIN_STAGING_PART_SIZE, ge=0)

    def settings(self) -> Settings:
        """The core's policy, with the buckets of the declaration."""
        return Settings(
            inbox_bucket=self.buckets["inbox"],
            staging_bucket=self.buckets["staging"],
            memory_mb=self.memory_mb,
            max_staging_part_size=self.max_staging_part_size,
            min_staging_part_size=self.min_staging_part_size,
            invocation_budget_s=self.invocation_budget_s,
            max_parts_per_invocation=self.max_parts_per_invocation,
            safety_margin_s=self.safety_margin_s,
        )
