"""Range GETs whose bodies are read straight into the download's buffers, on threads.

Through httpx, every read of a body (at most 256 KiB: asyncio's transport) passes anyio,
h11 (two copies), httpcore (a third) and httpx's iterator before the bytes reach a buffer;
that was the largest cost of a download after the cryptography. Here each thread keeps a
plain ``http.client`` connection (kept alive from range to range) and reads the body with
``readinto``: the kernel copies into the buffer, and nothing else touches the bytes.
The client's settings still hold: its timeout, its TLS context (``httpx.create_ssl_context``:
certifi, or SSL_CERT_FILE / SSL_CERT_DIR) and the proxy of the environment (HTTP(S)_PROXY,
ALL_PROXY, NO_PROXY), as httpx reads them.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from connector.http import require_secure
from connector.transfer import STORAGE

# what a broken connection raises, before or during a body
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)
T = TypeVar("T")


@dataclass(frozen=True)
class _Route:
    """Where a connection goes: the storage itself, or a proxy (tunnelled for https)."""

    scheme: str
    host: str
    port: int
    proxy: tuple[str, str, int] | None  # scheme, host, port
    proxy_auth: str | None  # a Proxy-Authorization header value


def route_of(url: str, proxies: dict[str, str] | None = None) -> _Route:
    """``proxies``: the environment's (``urllib.request.getproxies_environment()``)."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if proxies is None:
        proxies = urllib.request.getproxies_environment()
    proxy_url = proxies.get(scheme) or proxies.get("all")
    if not proxy_url or urllib.request.proxy_bypass_environment(host, proxies):
        return _Route(scheme, host, port, None, None)
    proxy = urllib.parse.urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    auth = None
    if proxy.username is not None:
        user = urllib.parse.unquote(proxy.username)
        secret = urllib.parse.unquote(proxy.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    proxy_port = proxy.port or (443 if proxy.scheme == "https" else 80)
    return _Route(scheme, host, port, (proxy.scheme, proxy.hostname or "", proxy_port), auth)


class RangeConnections:
    """One kept-alive connection per thread and route; ``close`` ends them all, also in
    the middle of a read (a blocked read then fails at once)."""

    def __init__(self, timeout: float | None, ssl_context: ssl.SSLContext | None = None) -> None:
        self._timeout = timeout
        self._ssl = ssl_context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ssl_lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._closed = False
        self._proxies = urllib.request.getproxies_environment()

    @classmethod
    def like(cls, client: httpx.AsyncClient) -> RangeConnections:
        """Connections with ``client``'s read timeout and a TLS context as httpx makes it."""
        return cls(client.timeout.read, None)

    def _context(self) -> ssl.SSLContext:
        # a lock of its own: _connect runs under self._lock (a first https connection
        # took that lock twice and hung every https download: the https test)
        with self._ssl_lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return self._ssl

    def _connect(self, route: _Route) -> http.client.HTTPConnection:
        target = route.proxy or (route.scheme, route.host, route.port)
        scheme, host, port = target
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=self._context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        if route.proxy is not None and route.scheme == "https":
            headers = {"Proxy-Authorization": route.proxy_auth} if route.proxy_auth else None
            connection.set_tunnel(route.host, route.port, headers)
        if route.proxy is not None and route.scheme == "http":  # plain http via a proxy
            connection = _ProxiedHttp(connection, route)
        return connection

    def _connection(self, route: _Route) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection for ``route``, and whether it was used before."""
        cached = getattr(self._local, "connections", None)
        if cached is None:
            cached = self._local.connections = {}
        connection = cached.get(route)
        if connection is not None:
            return connection, True
        with self._lock:
            if self._closed:
                raise ConnectionAbortedError("the download stopped")
            connection = cached[route] = self._connect(route)
            self._open.add(connection)
        return connection, False

    def connected(self, connection: http.client.HTTPConnection) -> None:
        """Connect ``connection`` if it is not; ConnectionAbortedError if ``close`` ran
        meanwhile: it ends the sockets there are, and one made after it would block a
        thread in a read nobody ends (an interrupted transfer that never exits)."""
        if connection.sock is None:
            connection.connect()
            with self._lock:
                closed = self._closed
            if closed:
                _close(connection)
                raise ConnectionAbortedError("the transfer stopped")

    def drop(self, url: str) -> None:
        """Forget this thread's connection to ``url``'s route (it broke)."""
        cached = getattr(self._local, "connections", None) or {}
        connection = cached.pop(route_of(url, self._proxies), None)
        if connection is not None:
            with self._lock:
                self._open.discard(connection)
            _close(connection)

    def get(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        """Send ``GET url`` and read the answer's head (the body is left to read)."""
        return self.request("GET", url, headers, None, lambda answer: answer)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: memoryview | None,
        finish: Callable[[http.client.HTTPResponse], T],
    ) -> T:
        """Send one request on this thread's connection and ``finish`` its answer there:
        once more on a fresh connection if a kept-alive one turns out closed."""
        require_secure(url, STORAGE)  # a presigned URL's signature is a credential too
        route = route_of(url, self._proxies)
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for _ in range(2):
            connection, reused = self._connection(route)
            try:
                self.connected(connection)
                connection.request(method, path, body=body, headers=headers)
                return finish(connection.getresponse())
            except TRANSPORT_ERRORS:
                self.drop(url)
                if not reused:
                    raise
                # a kept-alive connection the server closed meanwhile: once more, fresh
        raise ConnectionError("unreachable")  # pragma: no cover - the loop returns or raises

    def close(self) -> None:
        """End every connection (from any thread); no new ones are made."""
        with self._lock:
            self._closed = True
            connections, self._open = list(self._open), set()
        for connection in connections:
            _close(connection)


def _close(connection: http.client.HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:  # wakes a thread blocked in a read of this socket
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()


class _ProxiedHttp(http.client.HTTPConnection):
    """A plain-http request through a proxy: the absolute URL on the request line."""

    def __init__(self, connection: http.client.HTTPConnection, route: _Route) -> None:
        super().__init__(connection.host, connection.port, timeout=connection.timeout)
        self._route = route

    def request(self, method, url, body=None, headers=None, **kwargs) -> None:  # type: ignore[override]
        route = self._route
        netloc = route.host if route.port == 80 else f"{route.host}:{route.port}"
        extra = dict(headers or {})
        if route.proxy_auth:
            extra["Proxy-Authorization"] = route.proxy_auth
        super().request(method, f"http://{netloc}{url}", body, extra, **kwargs)
