"""One HTTP client for every call, and the retry policy that makes it patient.

Transient failures (connection errors, timeouts, 408, 429, 5xx) are retried with capped
exponential back-off and jitter; a Retry-After header (seconds or an HTTP date) is
honoured. When the retries are used up, a transport error becomes ``Unreachable`` (exit
code 4) and the last response is handed back so the caller can say what the service said.
Messages name only scheme and host, never a path or query: presigned URLs are credentials.
Plain http:// is refused before any connection unless it goes to this machine
(``require_secure``): it would carry the bearer token in clear.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connector import __version__
from connector.errors import BadInput, Unreachable

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


def origin(url: str | httpx.URL) -> str:
    """scheme://host[:port] of a URL: safe to show, unlike its path and query."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


LOOPBACK_NAMES = frozenset({"localhost"})
# a test stack's own names for this machine, given by whoever runs it (the Docker LocalStack
# testbed: localhost.localstack.cloud); comma-separated host names, never needed otherwise
ALLOW_HTTP_HOSTS_ENV = "FS_CONNECTOR_ALLOW_HTTP_HOSTS"


def _allowed_http_hosts() -> frozenset[str]:
    listed = os.environ.get(ALLOW_HTTP_HOSTS_ENV, "")
    return frozenset(h.strip().rstrip(".").lower() for h in listed.split(",") if h.strip())


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x) or the name localhost: this machine only.

    Other names are not resolved to decide: what a name resolves to can change between the
    check and the connection."""
    host = host.strip("[]").rstrip(".").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def insecure_problem(url: str) -> str | None:
    """Why the connector will not send a request to ``url``, or None.

    Plain http:// carries the bearer token (and a presigned URL's signature, and the data)
    readable to anyone on the way, so only https:// is used, except to this machine (a
    test stack). The message names scheme and host only."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None  # not ours to judge here: sending it fails with its own message
    if parsed.scheme != "http" or is_loopback(parsed.host):
        return None
    if parsed.host.rstrip(".").lower() in _allowed_http_hosts():
        return None  # named by the one running a test stack, host by host
    return (
        f"{origin(parsed)} is a plain http:// address: your access token and data would "
        "cross the network unencrypted. Use https:// (plain http:// is accepted only for "
        "this machine: 127.0.0.1, ::1, localhost)."
    )


def require_secure(url: str, what: str) -> None:
    """BadInput (exit 2) before any connection if ``url`` is plain http:// elsewhere."""
    problem = insecure_problem(url)
    if problem:
        raise BadInput(f"Refusing to contact {what}: {problem}")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait; ``retries`` counts attempts after the first."""

    retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def backoff(self, attempt: int) -> float:
        """Wait before retry number ``attempt`` (0-based): half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + self.jitter(0, ceiling / 2)

    def wait(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and response.status_code in (429, 503):
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.retry_after_max)
        return self.backoff(attempt)


# httpcore reads a response body 64 KiB at a time; every read goes through h11, the async
# stream and httpx's iterator, about 2 CPU-s per GiB downloaded. 1 MiB reads cut that to
# about 1.4 and raise a single connection's rate by half (measured against a local S3).
# The buffer is per connection, so memory grows by at most 1 MiB per connection.
READ_SIZE = 1024 * 1024


def tune_reads(size: int = READ_SIZE) -> bool:
    """Make httpcore's HTTP/1.1 connections read ``size`` bytes at a time; False if this
    httpcore has no such setting (then reads stay at its default, which works, slower)."""
    try:
        from httpcore._async.http11 import AsyncHTTP11Connection
    except ImportError:  # pragma: no cover - another httpcore layout
        return False
    if not isinstance(getattr(AsyncHTTP11Connection, "READ_NUM_BYTES", None), int):
        return False  # pragma: no cover
    AsyncHTTP11Connection.READ_NUM_BYTES = max(size, AsyncHTTP11Connection.READ_NUM_BYTES)
    return True


def make_client(
    timeout: float = 60.0, connect_timeout: float = 10.0, connections: int = 16
) -> httpx.AsyncClient:
    """The AsyncClient every API client and transfer shares (keep-alive, bounded pool)."""
    tune_reads()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"User-Agent": f"fs-connector/{__version__}"},
        follow_redirects=False,
    )


class Http:
    """Sends requests with the retry policy; one instance per command run."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    async def request(
        self,
        method: str,
        url: str,
        *,
        service: str,
        request_id: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; returns the response (any status) or raises Unreachable.

        ``service`` names the other side in messages. A fresh X-Request-Id is sent per
        logical request (the same one on its retries) unless ``request_id`` is False.
        """
        require_secure(url, service)  # before any connection: no token in clear
        headers = dict(kwargs.pop("headers", None) or {})
        if request_id:
            headers["X-Request-Id"] = str(uuid.uuid4())
        last_error: Exception | None = None
        response: httpx.Response | None = None
        for attempt in range(self.policy.retries + 1):
            if attempt:
                await self._sleep(self.policy.wait(attempt - 1, response))
            response = None
            try:
                response = await self.client.request(method, url, headers=headers, **kwargs)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                where = url.split("?", 1)[0]  # a presigned URL's query is a credential
                raise BadInput(f"Cannot send requests to {service} at {where!r}.") from None
            except httpx.TransportError as error:
                last_error = error
                continue
            if response.status_code not in RETRY_STATUSES:
                return response
        if response is not None:
            return response
        raise Unreachable(
            f"{service} at {origin(url)} could not be reached after "
            f"{self.policy.retries + 1} attempt(s): {_describe(last_error)}."
        )


def _describe(error: Exception | None) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.ConnectError):
        return "connection failed"
    if error is None:
        return "no answer"
    return type(error).__name__


class MinInterval:
    """Spaces calls at least ``seconds`` apart (a simple rate limit shared by tasks)."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.seconds <= 0:
            return
        async with self._lock:
            now = self._clock()
            if now < self._next:
                await self._sleep(self._next - now)
                now = self._next
            self._next = now + self.seconds
