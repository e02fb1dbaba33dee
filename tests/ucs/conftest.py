"""Fixtures of the UCS tests: a fresh box with its submitter per test, and an event tap."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Operator
from tests.ucs.helpers import EventTap, Submitter


@pytest.fixture
def submitter(endpoints: dict[str, Any], operator: Operator) -> Submitter:
    return Submitter(endpoints, operator, operator.create_box())


@pytest.fixture(scope="session")
def tap(endpoints: dict[str, Any]) -> EventTap:
    return EventTap(endpoints)


@pytest.fixture(autouse=True)
def _interrogation_paused(request: pytest.FixtureRequest, endpoints: dict[str, Any]) -> Any:
    """UCS's own tests keep closed uploads in the inbox: IRS waits (its messages queue up).

    Tests marked ``interrogating`` run with the whole pipeline, as in production.
    """
    if request.node.get_closest_marker("interrogating"):
        yield
        return
    control = f"{endpoints['api_url']}/_runtime/consumers/irs"
    assert httpx.post(f"{control}/pause").json()["paused"] is True
    try:
        yield
    finally:
        httpx.post(f"{control}/resume")
