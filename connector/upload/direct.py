"""Part PUTs sent on threads with ``http.client``: the part's buffer goes to the socket whole.

Through httpx, a part's body went in 1 MiB pieces through anyio, h11 and asyncio's
transport, which copies whatever the socket does not take at once into a buffer of its
own. Here a thread hands the part's memoryview to ``socket.sendall``: the kernel copies it,
and nothing else touches the bytes, with the GIL released while it waits. The connections
are the range downloads' (connector/download/direct.py), with the same settings: the
client's timeout, its TLS context and the environment's proxy (HTTP(S)_PROXY, NO_PROXY),
kept alive from part to part, one per thread. The retry policy is the client's
(``connector.http.RetryPolicy``): transport errors and the retryable statuses are sent
again after its backoff (or the answer's Retry-After).
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
from concurrent.futures import ThreadPoolExecutor

import httpx

from connector import __version__
from connector.download.direct import TRANSPORT_ERRORS, RangeConnections
from connector.errors import Unreachable
from connector.http import RETRY_STATUSES, RetryPolicy, origin
from connector.transfer import STORAGE

USER_AGENT = f"fs-connector/{__version__}"


class PartConnections(RangeConnections):
    """RangeConnections that also PUT a body (one kept-alive connection per thread)."""

    def put(self, url: str, headers: dict[str, str], body: memoryview) -> httpx.Response:
        """Send ``PUT url`` with ``body`` and read the whole (small) answer."""

        def finish(answer: http.client.HTTPResponse) -> httpx.Response:
            content = answer.read()
            if answer.will_close:
                self.drop(url)
            return httpx.Response(answer.status, headers=answer.getheaders(), content=content)

        return self.request("PUT", url, headers, body, finish)


class DirectPut:
    """PUTs of part bodies on ``threads`` threads, with the client's retry policy."""

    def __init__(self, client: httpx.AsyncClient, policy: RetryPolicy, threads: int) -> None:
        self._connections = PartConnections.like(client)
        self._policy = policy
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="fs-put")

    async def put(self, url: str, body: memoryview, headers: dict[str, str]) -> httpx.Response:
        """The answer (any status but a retryable one, unless retries ran out), or
        Unreachable when the transport kept failing."""
        loop = asyncio.get_running_loop()
        sent = {
            **headers,
            "Content-Length": str(len(body)),
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
        }
        response: httpx.Response | None = None
        failure = ""
        for attempt in range(self._policy.retries + 1):
            if attempt:
                await asyncio.sleep(self._policy.wait(attempt - 1, response))
            try:
                response = await loop.run_in_executor(
                    self._pool, self._connections.put, url, sent, body
                )
            except ssl.SSLCertVerificationError:
                raise Unreachable(
                    f"{STORAGE} at {origin(url)} has a certificate this machine does not "
                    "trust (SSL_CERT_FILE / SSL_CERT_DIR name the trust store to use)."
                ) from None
            except TRANSPORT_ERRORS as error:
                response, failure = None, type(error).__name__
                continue
            if response.status_code not in RETRY_STATUSES:
                return response
        if response is not None:
            return response
        raise Unreachable(
            f"{STORAGE} at {origin(url)} could not be reached after "
            f"{self._policy.retries + 1} attempt(s): {failure}."
        )

    def close(self) -> None:
        self._connections.close()
        self._pool.shutdown(wait=True)
