"""Part PUTs from threads (connector/upload/direct.py) against a small local HTTP server:
the body arrives whole with the headers given, the connection is kept alive, https works
with the trust the user configured, and retryable answers are sent again.

Through a proxy (plain http): the connector's upload tests over the stack with
RecordingProxy (tests/connector/test_resume_e2e.py, tests/seaweedfs/).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from connector.errors import Unreachable
from connector.http import RetryPolicy
from connector.upload.direct import DirectPut
from tests.connector.test_download_direct import _self_signed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.received.append((hashlib.sha256(body).hexdigest(), dict(self.headers)))
        server.ports.add(self.client_address[1])
        status = server.statuses.pop(0) if server.statuses else 200
        answer = b"<Error><Code>SlowDown</Code></Error>" if status != 200 else b""
        self.send_response(status)
        if status != 200:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, str]]] = []
        self.ports: set[int] = set()
        self.statuses: list[int] = []


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    running = _Server()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def _put(url: str, body: bytes, retries: int = 2, times: int = 1) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            direct = DirectPut(client, RetryPolicy(retries=retries, backoff_base=0.01), 2)
            try:
                view = memoryview(body)
                return [
                    await direct.put(url, view, {"x-amz-checksum-sha256": "c2hh"})
                    for _ in range(times)
                ]
            finally:
                direct.close()

    return asyncio.run(run())


def test_a_part_arrives_whole_with_its_headers_on_a_kept_alive_connection(
    server: _Server,
) -> None:
    body = os.urandom(3 * 1024 * 1024 + 7)
    url = f"http://127.0.0.1:{server.server_address[1]}/bucket/key?partNumber=1"
    answers = _put(url, body, times=3)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [sha for sha, _ in server.received] == [hashlib.sha256(body).hexdigest()] * 3
    headers = server.received[0][1]
    assert headers["Content-Length"] == str(len(body))
    assert headers["x-amz-checksum-sha256"] == "c2hh"
    assert "Transfer-Encoding" not in headers  # S3 needs the length
    assert len(server.ports) <= 2  # one connection per thread, kept alive


def test_retryable_answers_are_sent_again_then_returned(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/bucket/key"
    server.statuses = [503, 503]
    (answer,) = _put(url, b"part")
    assert answer.status_code == 200 and len(server.received) == 3
    server.statuses = [503] * 5
    (answer,) = _put(url, b"part", retries=1)
    assert answer.status_code == 503 and "SlowDown" in answer.text  # for the caller's message


def test_an_unreachable_storage_is_a_clear_error(server: _Server) -> None:
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(Unreachable, match="could not be reached") as error:
        _put(f"http://127.0.0.1:{port}/bucket/key?X-Amz-Signature=secret", b"x", retries=1)
    assert "secret" not in str(error.value)


def test_parts_go_over_https_with_the_trust_the_user_configured(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}/bucket/key?X-Amz-Signature=s"
    with pytest.raises(Unreachable, match="certificate this machine does not trust"):
        _put(url, b"part", retries=3)  # certifi's roots: not the test's CA; not retried
    assert server.received == []
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    answers = _put(url, b"part", times=2)
    assert [a.status_code for a in answers] == [200, 200]
    assert [sha for sha, _ in server.received] == [hashlib.sha256(b"part").hexdigest()] * 2


def test_a_connection_made_after_close_is_ended_at_once() -> None:
    """The race behind an interrupted upload that never exited: ``close`` ran while a PUT
    thread held a connection not yet connected; that thread then connected and blocked in a
    read that no one ended. Now it is refused, its socket closed, before anything is sent."""
    from connector.download.direct import route_of
    from connector.upload.direct import PartConnections

    listener = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{listener.server_address[1]}/bucket/key"
    connections = PartConnections(timeout=5)
    try:
        connection, reused = connections._connection(route_of(url))
        assert connection.sock is None and not reused
        connections.close()  # the interrupt, while this thread was about to connect
        with pytest.raises(ConnectionAbortedError):
            connections.connected(connection)
        assert connection.sock is None  # closed again: no socket left to block on
        with pytest.raises(ConnectionAbortedError):
            connections.put(url, {"Content-Length": "1"}, memoryview(b"x"))
    finally:
        listener.server_close()
