"""Fixtures of the UCS tests: a fresh box with its submitter per test, and an event tap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Operator
from tests.ucs.helpers import EventTap, Submitter


@pytest.fixture
def submitter(endpoints: dict[str, Any], operator: Operator) -> Submitter:
    return Submitter(endpoints, operator, operator.create_box())


@pytest.fixture(scope="session")
def tap(endpoints: dict[str, Any]) -> EventTap:
    return EventTap(endpoints)
