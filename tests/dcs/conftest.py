"""Fixtures of the DCS tests: files staged once per session, and DCS's core wired in-process.

The in-process core talks to the session stack's real moto server, tables, topics and EKSS;
it lets a test move the clock or shorten a lifetime without a stack of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.dcs.core import DownloadController
from functions.dcs.store import (
    AuditRecord,
    DrsObjectRecord,
    DynamoDrsRepository,
    EnvelopeRecord,
)
from shared.adapters.aws import client
from shared.adapters.dynamo import bind
from shared.adapters.ekss import EkssClient
from shared.adapters.s3 import S3Storage
from shared.adapters.sns import SnsPublisher
from shared.resources import table_name
from tests.dcs.helpers import ArchivedFile, Requester, outbox, staged_file
from tests.fakes.dcs import policy as default_policy
from tests.support import Operator, stack_topic_arn

SMALL = 200_000  # four segments: ranges cross segment and envelope boundaries
BIG = 4 * 1024 * 1024 + 300_000  # assembled, more than one response may carry


@pytest.fixture(scope="session")
def small(endpoints: dict[str, Any], operator: Operator) -> tuple[ArchivedFile, Requester]:
    return staged_file(endpoints, operator, os.urandom(SMALL))


@pytest.fixture(scope="session")
def big(endpoints: dict[str, Any], operator: Operator) -> tuple[ArchivedFile, Requester]:
    return staged_file(endpoints, operator, os.urandom(BIG))


@pytest.fixture(scope="session")
def repository(endpoints: dict[str, Any]) -> DynamoDrsRepository:
    table = table_name("drs_objects", endpoints["resource_prefix"])
    bind(DrsObjectRecord, table)
    bind(EnvelopeRecord, table)
    bind(AuditRecord, table)
    return DynamoDrsRepository()


@pytest.fixture
def controller(
    endpoints: dict[str, Any], repository: DynamoDrsRepository
) -> Callable[..., DownloadController]:
    """DCS's core as the stack wires it; keyword arguments change the policy or the parts."""

    def build(
        *,
        clock: Callable[[], datetime] | None = None,
        repo: Any = None,
        ekss_url: str | None = None,
        **policy: Any,
    ) -> DownloadController:
        topics = {
            event: stack_topic_arn(endpoints, event)
            for event in ("NonStagedFileRequested", "FileDownloadServed")
        }
        return DownloadController(
            repository=repo or repository,
            storage=S3Storage(client("s3", endpoints["aws_endpoint_url"])),
            publisher=SnsPublisher(topics, client("sns", endpoints["aws_endpoint_url"])),
            keys=EkssClient(ekss_url or endpoints["ekss_url"], endpoints["dcs_ekss_token"]),
            policy=default_policy(outbox(endpoints), "test", **policy),
            clock=clock or (lambda: datetime.now(UTC)),
        )

    return build
