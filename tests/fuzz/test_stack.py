"""A slice of the same hostile draws over real HTTP against the embedded stack.

The stack's runtime, Chalice's real Lambda entry point, DynamoDB (moto), S3 and OpenBao
answer here, with credentials WPS issued: every answer is a success or a 4xx with the
GHGA error body; a refused request changes none of the service's tables nor any bucket;
the functions log nothing at ERROR (their log is the stack's output). Fewer draws than
tests/fuzz/test_routes.py: each costs a few real round trips and two store snapshots.
"""

from __future__ import annotations

import importlib
import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings

from shared.resources import DECLARATION, bucket_name, queue_name, table_name
from testbed.events import aws
from tests.fuzz.checks import EXAMPLES, FUZZ, check_answer
from tests.fuzz.strategies import model_fields, requests
from tests.fuzz.world import World
from tests.support import (
    Operator,
    RunningStack,
    User,
    download_wot,
    upload_wot,
    wait_until_drained,
)

SERVICES = ("wps", "ucs", "dcs", "ekss", "wkvs")
# a sixth of the in-process draws per route, at least a few
STACK = settings(FUZZ, max_examples=max(4, EXAMPLES // 6))


@pytest.fixture(scope="module")
def stack_world(endpoints: dict[str, Any], operator: Operator) -> dict[str, World]:
    """What an attacker holds on the stack: operator, WPATs, WOTs, EKSS's callers. The
    stack is quiet first (every queue drained): what earlier tests set going must not
    write between a refused request's two snapshots."""
    for queue in DECLARATION.queues:
        wait_until_drained(endpoints, queue_name(queue.key, endpoints["resource_prefix"]))
    user = User.new()
    box = operator.create_box()
    upload_package, upload_wpat = operator.upload_package(user, box)
    file_id = str(uuid.uuid4())
    download_package, download_wpat = operator.download_package(user, [file_id])
    wots = [
        upload_wot(endpoints, user, upload_package, upload_wpat, box, kind, **extra)
        for kind, extra in (("view", {}), ("create", {"alias": "fuzz.txt"}))
    ]
    wots.append(download_wot(endpoints, user, download_package, download_wpat, file_id))
    common = {"keys": [user.public_b64], "ids": [box, file_id, upload_package]}
    operator_token = endpoints["operator_token"]
    tokens = {
        "wps": [operator_token, upload_wpat, download_wpat],
        "ucs": [operator_token, *wots[:2]],
        "dcs": [wots[2], wots[0]],
        "ekss": [endpoints["irs_ekss_token"], endpoints["dcs_ekss_token"], wots[2]],
        "wkvs": [],
    }
    params = {
        "wps": {"package_id": [upload_package, download_package], "box_id": [box]},
        "ucs": {"box_id": [box], "file_id": [file_id]},
        "dcs": {"file_id": [file_id]},
        "ekss": {"client_pk": [user.public_b64]},
        "wkvs": {"name": ["crypt4gh_public_keys"]},
    }
    return {
        service: World(
            service,
            importlib.import_module(f"functions.{service}.app"),
            None,
            {},
            tokens=tokens[service],
            params=params[service],
            **common,
        )
        for service in SERVICES
    }


def _snapshot(endpoints: dict[str, Any], service: str) -> dict[str, Any]:
    """The service's tables (every item) and the keys of every bucket it may write to."""
    dynamo, s3 = aws(endpoints, "dynamodb"), aws(endpoints, "s3")
    prefix = endpoints["resource_prefix"]
    state: dict[str, Any] = {}
    for table in DECLARATION.tables:
        if table.owner == service:
            name = table_name(table.key, prefix)
            items = dynamo.scan(TableName=name).get("Items", [])
            state[name] = sorted(json.dumps(item, sort_keys=True) for item in items)
    for key, access in DECLARATION.bucket_access.get(service, {}).items():
        if {"write", "presign-write", "multipart", "delete"} & set(access):
            name = bucket_name(key, prefix)
            listed = s3.list_objects_v2(Bucket=name).get("Contents", [])
            state[name] = sorted((o["Key"], o["Size"]) for o in listed)
    return state


def _errors_logged(stack: RunningStack, since: int) -> list[str]:
    with open(stack.output, "rb") as out:
        out.seek(since)
        lines = out.read().decode("utf-8", "replace").splitlines()
    return [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]


@pytest.mark.parametrize("service", SERVICES)
def test_hostile_requests_over_http(
    service: str,
    endpoints: dict[str, Any],
    running_stack: RunningStack,
    stack_world: dict[str, World],
) -> None:
    world = stack_world[service]
    app = world.module.app
    wire = importlib.import_module(f"functions.{service}.wire")
    fields = model_fields(wire)
    base = endpoints[f"{service}_url"]
    since = running_stack.output.stat().st_size
    with httpx.Client(timeout=30) as client:
        for path, entries in sorted(app.routes.items()):

            @STACK
            @given(draw=requests(world, path, sorted(entries), fields, wire))
            def hostile(draw) -> None:
                before = _snapshot(endpoints, service)
                # on the wire a header value has no outer whitespace (h11 refuses to send it)
                headers = {name: value.strip() for name, value in draw.headers.items()}
                answer = client.request(
                    draw.method, base + draw.path, headers=headers, content=draw.body
                )
                what = f"{draw.method} {draw.path[:200]} {draw.headers}"
                body = b"" if draw.method == "HEAD" else answer.content
                if draw.method == "HEAD" and answer.status_code >= 400:
                    assert answer.status_code < 500, what
                elif check_answer(answer.status_code, body, what, world.tokens) is not None:
                    assert _snapshot(endpoints, service) == before, f"{what}: refused, yet written"

            hostile()
    assert _errors_logged(running_stack, since) == []


@pytest.mark.parametrize(
    "path",
    ["/ucs/uploads/", "/dcs/objects/", "/ekss/secrets//envelopes/", "/nothing", "/wps/", "/"],
)
def test_paths_that_match_no_route_get_the_error_body(endpoints: dict[str, Any], path: str) -> None:
    answer = httpx.get(endpoints["api_url"] + path)
    error = check_answer(answer.status_code, answer.content, path, [])
    assert answer.status_code in (404, 405) and error is not None


@pytest.mark.parametrize("service", ["wps", "ucs", "ekss"])
def test_form_bodies_and_deep_json_over_http(service: str, endpoints: dict[str, Any]) -> None:
    token = {
        "wps": endpoints["operator_token"],
        "ucs": endpoints["operator_token"],
        "ekss": endpoints["irs_ekss_token"],
    }[service]
    path = {"wps": "/work-packages", "ucs": "/boxes", "ekss": "/secrets"}[service]
    url = endpoints[f"{service}_url"] + path
    auth = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(url, headers={**auth, "Content-Type": "text/plain"}, content=b"a=b")
    assert answer.status_code == 415
    assert check_answer(415, answer.content, url, [token])["exception_id"] == "unsupportedMediaType"
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = httpx.post(url, headers={**auth, "Content-Type": "application/json"}, content=deep)
    assert answer.status_code == 400
    assert check_answer(400, answer.content, url, [token])["exception_id"] == "badJson"
