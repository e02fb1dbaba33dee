"""The resource declaration is consistent with itself and with the functions."""

from __future__ import annotations

import json

from shared.events import SCHEMAS
from shared.resources import DECLARATION, EVENT_TYPES, function_environment, queue_for


def test_every_event_type_has_a_schema_and_topic() -> None:
    assert set(EVENT_TYPES) == set(SCHEMAS)
    assert set(DECLARATION.topics) == set(EVENT_TYPES)


def test_publishers_and_consumers_are_declared_functions() -> None:
    names = {f.name for f in DECLARATION.functions}
    assert set(DECLARATION.publishers) <= names
    assert set(DECLARATION.bucket_access) <= names
    for queue in DECLARATION.queues:
        assert queue.consumer in names
        assert set(queue.topics) <= set(EVENT_TYPES)
        assert queue_for(queue.consumer, queue.handler).endswith(queue.key)
    for table in DECLARATION.tables:
        assert table.owner in names
    for schedule in DECLARATION.schedules:
        assert schedule.function in names


def test_names_are_unique() -> None:
    keys = [q.key for q in DECLARATION.queues]
    assert len(keys) == len(set(keys))
    tables = [t.key for t in DECLARATION.tables]
    assert len(tables) == len(set(tables))


def test_function_environment_names_only_own_resources() -> None:
    env = function_environment("wps", region="eu-central-1", account="1", pfx="px")
    assert json.loads(env["WPS_TABLES"]) == {"work_packages": "px-work_packages"}
    assert json.loads(env["WPS_BUCKETS"]) == {}
    ucs = function_environment("ucs", region="eu-central-1", account="1", pfx="px")
    assert json.loads(ucs["UCS_BUCKETS"]) == {"inbox": "px-inbox"}
    assert "px-work_packages" not in ucs["UCS_TABLES"]
