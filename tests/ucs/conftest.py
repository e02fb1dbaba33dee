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


@pytest.fixture(autouse=True)
def _interrogation_paused_unless_marked(request: pytest.FixtureRequest) -> Any:
    """UCS's own tests keep closed uploads in the inbox; those marked ``interrogating`` run
    with the whole pipeline, as in production. Tests without the stack (the core on fakes)
    have nothing to pause and must not start it."""
    if "endpoints" not in request.fixturenames:
        return
    if not request.node.get_closest_marker("interrogating"):
        request.getfixturevalue("interrogation_paused")
