"""Fixtures: one embedded stack per test session, started exactly as `fs-stack up` starts it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Operator, RunningStack, User, consumers_paused, start_stack


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path_factory.mktemp("stack") / "state")
    saved = dict(os.environ)
    # so that tests can look into the stack's buckets, queues, tables and Vault
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": stack.endpoints["aws_endpoint_url"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": stack.endpoints["aws_region"],
            "FS_RESOURCE_PREFIX": stack.endpoints["resource_prefix"],
        }
    )
    try:
        yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stack.stop()


@pytest.fixture(scope="session")
def endpoints(running_stack: RunningStack) -> dict[str, Any]:
    return running_stack.endpoints


@pytest.fixture(scope="session")
def operator(endpoints: dict[str, Any]) -> Operator:
    return Operator(endpoints)


@pytest.fixture
def user() -> User:
    return User.new()


@pytest.fixture
def interrogation_paused(endpoints: dict[str, Any]) -> Iterator[None]:
    """Closed uploads stay in the inbox: IRS is paused (its messages wait in its queue).

    At the end the waiting messages are dropped, since what the test closed was never
    meant to be interrogated, and no backlog slows the tests that run the pipeline.
    """
    with consumers_paused(endpoints, "irs", drop=True):
        yield
