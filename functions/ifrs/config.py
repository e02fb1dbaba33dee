"""IFRS settings (``IFRS_*`` variables): the shared resource settings and the copy policy;
the defaults are the core's, from model.py."""

from __future__ import annotations

from pydantic import Field

from functions.ifrs.model import (
    COPY_PART_FLOOR,
    INVOCATION_BUDGET_S,
    PARTS_IN_FLIGHT,
    SAFETY_MARGIN_S,
    CopySettings,
)
from shared.limits import LAMBDA_MAX_TIMEOUT_S
from shared.multipart import MAX_PART_SIZE, MIN_PART_SIZE
from shared.settings import ResourceSettings


class IfrsConfig(ResourceSettings):
    # copy parts are at least this large (more where 10,000 parts would not hold the object)
    copy_part_floor: int = Field(default=COPY_PART_FLOOR, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    # UploadPartCopy calls at once, and so the parts between two checkpoints
    parts_in_flight: int = Field(default=PARTS_IN_FLIGHT, ge=1, le=64)
    # when to hand the rest of a copy to a next invocation: after this much work, after
    # this many parts (0: no limit; tests force hand-ons with it), or when fewer than
    # safety_margin_s seconds of the Lambda's own time are left
    invocation_budget_s: float = Field(default=INVOCATION_BUDGET_S, ge=0, le=LAMBDA_MAX_TIMEOUT_S)
    max_parts_per_invocation: int = Field(default=0, ge=0)
    safety_margin_s: float = Field(default=SAFETY_MARGIN_S, ge=0)

    def copy_settings(self) -> CopySettings:
        """The core's copy policy."""
        return CopySettings(
            part_floor=self.copy_part_floor,
            parts_in_flight=self.parts_in_flight,
            invocation_budget_s=self.invocation_budget_s,
            max_parts_per_invocation=self.max_parts_per_invocation,
            safety_margin_s=self.safety_margin_s,
        )
