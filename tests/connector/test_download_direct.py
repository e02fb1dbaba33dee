"""The range connections of a download against a small local HTTP server: kept alive from
range to range, a fresh connection when the server closed the old one, the environment's
proxy, and ``close`` that ends a read blocked in the middle of a body."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.download.direct import RangeConnections, route_of

BODY = bytes(range(256)) * 4096  # 1 MiB


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.client_address[1]))
        if self.server.stall.is_set():  # announce the body, send a little, then hang
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:10])
            self.wfile.flush()
            self.server.release.wait(30)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        if self.server.close_after:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, int]] = []
        self.stall = threading.Event()
        self.release = threading.Event()
        self.close_after = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    running = _Server()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.release.set()
    running.shutdown()
    running.server_close()


def _read(connections: RangeConnections, url: str) -> bytes:
    response = connections.get(url, {})
    buffer = bytearray(len(BODY))
    view, filled = memoryview(buffer), 0
    while count := response.readinto(view[filled:]):
        filled += count
    return bytes(buffer[:filled])


def test_a_connection_is_kept_alive_and_renewed_when_closed(server: _Server) -> None:
    connections = RangeConnections(timeout=10)
    assert _read(connections, f"{server.url}/a?x=1") == BODY
    assert _read(connections, f"{server.url}/b") == BODY
    (first, port_a), (second, port_b) = server.requests
    assert (first, second) == ("/a?x=1", "/b") and port_a == port_b  # one connection
    server.close_after = True
    assert _read(connections, f"{server.url}/c") == BODY
    time.sleep(0.1)  # the server has closed it: the next GET opens a fresh one
    assert _read(connections, f"{server.url}/d") == BODY
    assert server.requests[-1][1] != port_a
    connections.close()


def test_close_ends_a_read_blocked_in_the_body(server: _Server) -> None:
    server.stall.set()
    connections = RangeConnections(timeout=30)
    outcome: list[object] = []

    def reader() -> None:
        try:
            outcome.append(_read(connections, f"{server.url}/slow"))
        except Exception as error:  # what the fetcher sees
            outcome.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    time.sleep(0.1)
    started = time.monotonic()
    connections.close()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 5
    (result,) = outcome
    assert isinstance(result, Exception) or len(result) < len(BODY)  # type: ignore[arg-type]
    with pytest.raises(ConnectionAbortedError):
        connections.get(f"{server.url}/after", {})


def test_the_proxy_of_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://user:p%40ss@proxy.example:3128")
    monkeypatch.setenv("no_proxy", "storage.internal")
    route = route_of("http://s3.example:9000/bucket/key?sig=1")
    assert route.proxy == ("http", "proxy.example", 3128)
    assert route.proxy_auth == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert route_of("http://storage.internal/bucket/key").proxy is None
    assert route_of("https://s3.example/key").proxy is None  # no https_proxy set


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_ranges_come_over_https_with_the_trust_the_user_configured(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Presigned URLs on AWS are https: the connection verifies the storage's certificate
    against the trust store httpx would use (here SSL_CERT_FILE names the test's CA), and
    refuses a certificate it does not trust."""
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}/bucket/key?X-Amz-Signature=s"

    untrusting = RangeConnections(timeout=10)  # certifi's roots: not the test's CA
    with pytest.raises(ssl.SSLCertVerificationError):
        untrusting.get(url, {})
    untrusting.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    connections = RangeConnections(timeout=10)
    assert _read(connections, url) == BODY
    assert _read(connections, url) == BODY  # kept alive over TLS too
    assert len({port for _, port in server.requests}) == 1
    connections.close()
