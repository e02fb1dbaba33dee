"""Every HTTP route of every service under hostile requests, through Chalice's test client
on the real cores with in-memory adapters (tests/fuzz/world.py): fast, so many draws.

For each route of each app's route table (a route added later is fuzzed too), requests
mix the world's real ids, keys and valid tokens (an attacker who holds them) with hostile
paths, headers, content types, query strings, ranges and bodies. Every answer is a
success or a 4xx with ``{exception_id, description, data}`` that names no credential;
nothing is logged at ERROR (an unhandled error always is); a refused request leaves every
store (tables, buckets, secrets, published events) as it was. tests/fuzz/test_stack.py
runs a slice of the same draws over real HTTP against the embedded stack.
"""

from __future__ import annotations

import importlib
import itertools
import re
from urllib.parse import quote

import pytest
from chalice.test import Client
from hypothesis import given

from tests.fuzz.checks import FUZZ, check_answer, errors_logged, no_unhandled_error
from tests.fuzz.strategies import HOSTILE_BODIES, LOW_ORDER_KEYS, model_fields, requests
from tests.fuzz.world import WORLDS

JSON = "application/json"
# Chalice's local gateway lets every request past an IAMAuthorizer (API Gateway checks it)
pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported:UserWarning")


def _routes() -> list[tuple[str, str, list[str]]]:
    found = []
    for service in WORLDS:
        app = importlib.import_module(f"functions.{service}.app").app
        for path, entries in sorted(app.routes.items()):
            found.append((service, path, sorted(entries)))
    return found


ROUTES = _routes()


def test_every_service_with_http_routes_is_fuzzed() -> None:
    """A new functions/*/app.py with routes must get a world here."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "functions"
    with_routes = {
        path.parent.name
        for path in root.glob("*/app.py")
        if "service.route(" in path.read_text() or "@app.route(" in path.read_text()
    }
    assert with_routes <= set(WORLDS), with_routes - set(WORLDS)
    assert len(ROUTES) >= 20


@pytest.mark.parametrize(
    ("service", "path", "methods"), ROUTES, ids=[f"{s}:{p}" for s, p, _ in ROUTES]
)
def test_hostile_requests_get_a_4xx_error_body_and_change_nothing(
    service: str, path: str, methods: list[str]
) -> None:
    world = WORLDS[service]()
    wire = importlib.import_module(f"functions.{service}.wire")
    fields = model_fields(wire)

    @FUZZ
    @given(draw=requests(world, path, methods, fields, wire))
    def hostile(draw) -> None:
        before = world.snapshot()
        with errors_logged() as logged:
            answer = client.http.request(
                draw.method, draw.path, headers=draw.headers, body=draw.body
            )
        what = f"{draw.method} {draw.path[:200]} {draw.headers}"
        no_unhandled_error(logged, what)
        if check_answer(answer.status_code, answer.body, what, world.tokens) is not None:
            assert world.snapshot() == before, f"{what}: refused, yet something was written"

    with world.installed(), Client(world.module.app) as client:
        hostile()


# ------------------------------------------------------------------ the findings, pinned


@pytest.fixture
def wps():
    world = WORLDS["wps"]()
    with world.installed(), Client(world.module.app) as client:
        yield world, client


@pytest.mark.parametrize("key", LOW_ORDER_KEYS)
def test_wps_refuses_small_order_keys(wps, key: str) -> None:
    world, client = wps
    before = world.snapshot()
    answer = client.http.post(
        "/work-packages",
        headers={"Authorization": f"Bearer {world.tokens[0]}", "Content-Type": "application/json"},
        body=f'{{"type": "download", "file_ids": ["f"], "user_public_crypt4gh_key": "{key}"}}',
    )
    assert answer.status_code == 422 and answer.json_body["exception_id"] == "invalidPublicKey"
    assert world.snapshot() == before


@pytest.mark.parametrize("key", LOW_ORDER_KEYS)
def test_ekss_refuses_small_order_keys_in_the_path_and_the_body(key: str) -> None:
    import base64
    from urllib.parse import quote

    from tests.fuzz.world import DCS_TOKEN, IRS_TOKEN

    world = WORLDS["ekss"]()
    with world.installed(), Client(world.module.app) as client:
        before = world.snapshot()
        urlsafe = base64.urlsafe_b64encode(base64.b64decode(key)).decode()
        for pk in (quote(key, safe=""), urlsafe):
            answer = client.http.get(
                f"/secrets/{world.ids[0]}/envelopes/{pk}",
                headers={
                    "Authorization": f"Bearer {DCS_TOKEN}",
                    "X-Work-Order-Token": world.tokens[2],
                },
            )
            assert answer.status_code == 422, answer.body
            assert answer.json_body["exception_id"] == "invalidPublicKey"
        answer = client.http.post(
            "/secrets",
            headers={"Authorization": f"Bearer {IRS_TOKEN}", "Content-Type": "application/json"},
            body=f'{{"file_id": "{world.ids[2]}", "public_key": "{key}"}}',
        )
        assert answer.status_code == 422 and answer.json_body["exception_id"] == "validationError"
        assert world.snapshot() == before


@pytest.mark.parametrize("service", sorted(WORLDS))
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_unsupported_content_types_get_the_error_body(service: str, content_type: str) -> None:
    world = WORLDS[service]()
    app = world.module.app
    with world.installed(), Client(app) as client:
        for path, entries in app.routes.items():
            if "POST" not in entries:
                continue
            answer = client.http.post(path, headers={"Content-Type": content_type}, body=b"a=b")
            error = check_answer(answer.status_code, answer.body, path, [])
            assert answer.status_code == 415 and error["exception_id"] == "unsupportedMediaType"
        # an unknown method on a known route: Chalice's own 405, in our body too
        answer = client.http.request("PUT", "/health")
        assert answer.status_code == 405
        assert (
            check_answer(405, answer.body, "PUT /health", [])["exception_id"] == "methodNotAllowed"
        )


@pytest.mark.parametrize("service", sorted(WORLDS))
def test_every_hostile_body_with_every_credential_on_every_body_route(service: str) -> None:
    """Exhaustive, not drawn: each of HOSTILE_BODIES (100,000-deep arrays, integers past
    the digit limit, NaN, no UTF-8, ...) as JSON, with each token the attacker holds, at
    each route that takes a body (real path parameters): past the token check a body is
    parsed, and each must be a 4xx, logged as no unhandled error, changing nothing."""
    world = WORLDS[service]()
    app = world.module.app
    with world.installed(), Client(app) as client, errors_logged() as logged:
        for path, entries in sorted(app.routes.items()):
            url = path
            for name in re.findall(r"{(\w+)}", path):
                url = url.replace("{" + name + "}", quote((world.params.get(name) or ["x"])[0]))
            for method in sorted(set(entries) & {"POST", "PATCH", "DELETE"}):
                for token, body in itertools.product(world.tokens or [""], HOSTILE_BODIES):
                    headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
                    before = world.snapshot()
                    answer = client.http.request(method, url, headers=headers, body=body)
                    what = f"{method} {url} {body[:30]!r}"
                    if check_answer(answer.status_code, answer.body, what, world.tokens):
                        assert world.snapshot() == before, f"{what}: refused, yet written"
                        error = answer.json_body
                        assert answer.status_code != 400 or error["exception_id"] == "badJson"
    no_unhandled_error(logged, service)
