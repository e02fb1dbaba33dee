"""One run of a long, resumable step (IRS's staging, IFRS's copies): who holds its lease,
and when it must hand the rest on to a next invocation.

A Lambda is killed at its timeout. Work that may take longer saves a checkpoint after each
piece and, before the time runs out, hands the rest on (a message to its own queue); the
lease it holds outlives the invocation only by LEASE_SLACK_S, so a killed run's successor
waits no longer than that.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Final, Protocol

INVOCATION_BUDGET_S: Final = 780.0  # of the Lambda's 900 s: hand on after this much work
SAFETY_MARGIN_S: Final = 120.0  # or when less than this is left (the last piece must fit)
LEASE_SLACK_S: Final = 30.0  # a lease outlives its invocation by this much, and no more


class WorkBudget(Protocol):
    """The settings an Invocation reads (each service's Settings has them)."""

    @property
    def lease_s(self) -> float: ...
    @property
    def invocation_budget_s(self) -> float: ...
    @property
    def safety_margin_s(self) -> float: ...
    @property
    def max_parts_per_invocation(self) -> int: ...  # 0: no limit (tests force hand-ons)


class Invocation:
    """One handler run: the lease owner, and when to hand the rest of the work on."""

    def __init__(self, settings: WorkBudget, remaining_ms: Callable[[], int] | None = None) -> None:
        self.owner = str(uuid.uuid4())
        self.parts_done = 0  # parts this invocation took on
        self._settings = settings
        self._remaining_ms = remaining_ms
        self._started = time.monotonic()

    def lease_seconds(self) -> float:
        """At most the Lambda's remaining time, plus LEASE_SLACK_S."""
        limit = self._settings.lease_s
        if self._remaining_ms is not None:
            limit = min(limit, self._remaining_ms() / 1000)
        return limit + LEASE_SLACK_S

    def should_hand_on(self) -> bool:
        """Whether the next piece is for a next invocation (after at least one here)."""
        settings = self._settings
        if not self.parts_done:
            return False
        if settings.max_parts_per_invocation and (
            self.parts_done >= settings.max_parts_per_invocation
        ):
            return True
        return self.time_is_short()

    def time_is_short(self) -> bool:
        """Past the budget, or less than the safety margin of the Lambda's time is left:
        no further piece, nor a finish that may take minutes (completing 10,000 parts),
        is begun in this invocation."""
        settings = self._settings
        if time.monotonic() - self._started >= settings.invocation_budget_s:
            return True
        remaining = self._remaining_ms() if self._remaining_ms is not None else None
        return remaining is not None and remaining / 1000 < settings.safety_margin_s
