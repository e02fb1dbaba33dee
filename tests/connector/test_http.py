"""The retry policy and the token refresh, over real HTTP against a scripted local server.

The server plays the other side (answers in a given order); what is tested is how the
connector's client reacts: which requests it sends again, how long it asks to wait, and
which error it reports in the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from connector.api.ucs import UploadClient
from connector.api.wps import AccessToken, WorkPackageClient
from connector.errors import NotAuthorized, ServiceError, Unreachable
from connector.http import Http, MinInterval, RetryPolicy, retry_after_seconds
from connector.keys import KeyPair
from shared.crypt.keys import encode_key, generate_keypair
from shared.crypt.sealedbox import seal

Reply = tuple[int, dict[str, str], bytes]


class ScriptedServer:
    """Answers each request with ``respond(method, path, body)`` and records it."""

    def __init__(self, respond: Callable[[str, str, bytes], Reply]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, data = respond(self.command, self.path, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(respond: Callable[[str, str, bytes], Reply]) -> ScriptedServer:
        servers.append(ScriptedServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _sequence(*statuses: int, headers: dict[str, str] | None = None):
    replies = list(statuses)

    def respond(method: str, path: str, body: bytes) -> Reply:
        status = replies.pop(0) if len(replies) > 1 else replies[0]
        return status, dict(headers or {}), json.dumps({"description": f"said {status}"}).encode()

    return respond


async def _send(url: str, retries: int, sleeps: list[float], **kwargs: Any) -> httpx.Response:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(retries=retries, backoff_base=1.0, backoff_max=4.0)
    async with httpx.AsyncClient() as client:
        return await Http(client, policy, sleep).request("GET", url, service="Test", **kwargs)


def test_5xx_is_retried_until_success(scripted) -> None:
    server = scripted(_sequence(503, 502, 200))
    sleeps: list[float] = []
    response = asyncio.run(_send(f"{server.url}/x", 5, sleeps))
    assert response.status_code == 200
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    ids = {headers["X-Request-Id"] for _, _, headers in server.requests}
    assert len(ids) == 1  # one logical request: the same id on every attempt


def test_retries_give_up_and_return_the_last_answer(scripted) -> None:
    server = scripted(_sequence(500))
    sleeps: list[float] = []
    response = asyncio.run(_send(f"{server.url}/x", 3, sleeps))
    assert response.status_code == 500
    assert len(server.requests) == 4
    assert all(s <= 4.0 for s in sleeps)  # capped


def test_client_errors_are_not_retried(scripted) -> None:
    server = scripted(_sequence(404, 200))
    response = asyncio.run(_send(f"{server.url}/x", 5, []))
    assert response.status_code == 404
    assert len(server.requests) == 1


def test_429_honours_retry_after(scripted) -> None:
    server = scripted(_sequence(429, 200, headers={"Retry-After": "7"}))
    sleeps: list[float] = []
    assert asyncio.run(_send(f"{server.url}/x", 5, sleeps)).status_code == 200
    assert sleeps == [7.0]


def test_retry_after_parsing() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=9), True), now) == 9.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    policy = RetryPolicy(backoff_base=1, backoff_max=8, jitter=lambda a, b: b)
    assert [policy.backoff(n) for n in range(6)] == [1, 2, 4, 8, 8, 8]


def test_connection_refused_becomes_unreachable() -> None:
    server = ScriptedServer(_sequence(200))
    url = server.url
    server.close()
    sleeps: list[float] = []
    with pytest.raises(Unreachable, match="could not be reached after 3 attempt"):
        asyncio.run(_send(f"{url}/secret/path?X-Amz-Signature=abc", 2, sleeps))
    assert len(sleeps) == 2


def test_unreachable_message_hides_path_and_query() -> None:
    server = ScriptedServer(_sequence(200))
    url = server.url
    server.close()
    with pytest.raises(Unreachable) as info:
        asyncio.run(_send(f"{url}/secret/path?X-Amz-Signature=abc", 0, []))
    assert "secret" not in str(info.value) and "Signature" not in str(info.value)


def test_min_interval_spaces_calls() -> None:
    now = [100.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    async def calls() -> None:
        limiter = MinInterval(0.05, clock=lambda: now[0], sleep=sleep)
        for _ in range(3):
            await limiter.wait()
        now[0] += 1.0
        await limiter.wait()

    asyncio.run(calls())
    assert sleeps == pytest.approx([0.05, 0.05])


# ------------------------------------------------------------------ work order tokens


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


class FakeArchive:
    """WPS and UCS routes as scripted answers: UCS refuses the first ``refusals`` WOTs."""

    def __init__(self, keys: KeyPair, refusals: int, claimed_key: str | None = None) -> None:
        self.keys, self.refusals = keys, refusals
        self.claimed_key = claimed_key or keys.public_b64
        self.issued = 0
        self.box = str(uuid.uuid4())

    def __call__(self, method: str, path: str, body: bytes) -> Reply:
        if path.startswith("/wps/work-packages/") and method == "GET":
            package = {
                "type": "upload",
                "files": {},
                "research_data_upload_box_id": self.box,
                "file_upload_box_id": self.box,
            }
            return 200, {}, json.dumps(package).encode()
        if path.endswith("/work-order-tokens"):
            self.issued += 1
            claims = {"n": self.issued, "iat": 0, "exp": 30}
            claims["user_public_crypt4gh_key"] = self.claimed_key
            sealed = seal(_jwt(claims), self.keys.public_key)
            return 201, {}, json.dumps(sealed).encode()
        if self.refusals:
            self.refusals -= 1
            return 403, {}, b'{"description": "token expired"}'
        return 200, {}, b'"http://storage/part"'


def _part_url(server: ScriptedServer, keys: KeyPair) -> str:
    async def run() -> str:
        async with httpx.AsyncClient() as client:
            http = Http(client, RetryPolicy(retries=0))
            access = AccessToken(str(uuid.uuid4()), "t" * 24)
            wps = WorkPackageClient(http, f"{server.url}/wps", access, keys)
            ucs = UploadClient(http, f"{server.url}/ucs", wps, part_url_interval=0)
            first = await ucs.part_url(str(uuid.uuid4()), 1)
            return first

    return asyncio.run(run())


def _keys() -> KeyPair:
    private, public = generate_keypair()
    return KeyPair(private, public)


def test_a_refused_token_is_renewed_once(scripted) -> None:
    keys = _keys()
    archive = FakeArchive(keys, refusals=1)
    server = scripted(archive)
    assert _part_url(server, keys) == "http://storage/part"
    assert archive.issued == 2
    bearer = [h.get("Authorization") for m, p, h in server.requests if "/ucs/" in p]
    assert len(bearer) == 2 and bearer[0] != bearer[1]


def test_a_second_refusal_means_not_authorized(scripted) -> None:
    keys = _keys()
    server = scripted(FakeArchive(keys, refusals=2))
    with pytest.raises(NotAuthorized, match="token expired"):
        _part_url(server, keys)


def test_tokens_are_cached_for_their_lifetime(scripted) -> None:
    keys = _keys()
    archive = FakeArchive(keys, refusals=0)
    server = scripted(archive)

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            http = Http(client, RetryPolicy(retries=0))
            wps = WorkPackageClient(
                http, f"{server.url}/wps", AccessToken(str(uuid.uuid4()), "t" * 24), keys
            )
            ucs = UploadClient(http, f"{server.url}/ucs", wps, part_url_interval=0)
            file_id = str(uuid.uuid4())
            await asyncio.gather(*(ucs.part_url(file_id, n) for n in range(1, 6)))

    asyncio.run(run())
    assert archive.issued == 1  # five parts at once share one work order token
    assert sum(1 for m, p, h in server.requests if m == "GET" and "/wps/" in p) == 1


def test_a_token_for_another_key_is_refused(scripted) -> None:
    keys = _keys()
    server = scripted(FakeArchive(keys, refusals=0, claimed_key=encode_key(generate_keypair()[1])))
    with pytest.raises(NotAuthorized, match="issued for another public key"):
        _part_url(server, keys)


def test_unexpected_answers_are_reported(scripted) -> None:
    keys = _keys()

    def respond(method: str, path: str, body: bytes) -> Reply:
        if path.startswith("/ucs/"):
            return 200, {}, b"<html>not json</html>"
        return FakeArchive(keys, 0)(method, path, body)

    server = scripted(respond)
    with pytest.raises(ServiceError, match="not JSON"):
        _part_url(server, keys)


def test_clients_read_response_bodies_a_mebibyte_at_a_time() -> None:
    """The transfer clients read 1 MiB per call (64 KiB is httpcore's default and costs a
    third more CPU per GiB); if httpcore moves the setting, this says so."""
    from httpcore._async.http11 import AsyncHTTP11Connection

    from connector.http import READ_SIZE, make_client

    client = make_client()
    try:
        assert AsyncHTTP11Connection.READ_NUM_BYTES == READ_SIZE
    finally:
        asyncio.run(client.aclose())
