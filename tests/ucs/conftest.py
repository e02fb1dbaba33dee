"""Fixtures of the UCS tests: a fresh box with its submitter per test, and an event tap."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from infra.resources import queue_name
from tests.support import Operator, aws, queue_url
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
        # what this test closed was never meant to be interrogated: drop it, so that no
        # backlog slows the tests that do run the pipeline
        sqs = aws(endpoints, "sqs")
        url = queue_url(endpoints, queue_name("irs-inbox", endpoints["resource_prefix"]))
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        httpx.post(f"{control}/resume")
