"""Fetch byte ranges of a file's content from its presigned URL, in parallel.

Each range is streamed into small buffers from a shared pool and written by position as
they fill, so memory is about ``concurrency`` buffers whatever the range size. A range
that breaks off (connection lost, short body, 5xx) continues from the last byte written;
a 403 means the presigned URL expired: a fresh one comes from DCS and the range is tried
again. The URL is a credential: messages name only the storage host.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from connector.api.dcs import DrsObject
from connector.download.ranges import ByteRange
from connector.errors import TransferFailed, Unreachable
from connector.http import RETRY_STATUSES, RetryPolicy, origin
from connector.transfer import STORAGE, BufferPool, run_bounded, storage_detail

CHUNK = 1024 * 1024  # bytes gathered before a write
MAX_RENEWALS = 3  # fresh URLs per range before giving up
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

Write = Callable[[int, memoryview], Awaitable[None]]


class ContentUrl:
    """The current presigned URL of one file; renewed once per expiry, however many
    ranges notice it at the same time."""

    def __init__(self, drs: DrsObject, renew: Callable[[], Awaitable[DrsObject]]) -> None:
        self.drs = drs
        self.generation = 0
        self._renew = renew
        self._lock = asyncio.Lock()

    async def renew(self, seen: int) -> None:
        async with self._lock:
            if self.generation != seen:
                return  # another range renewed it meanwhile
            fresh = await self._renew()
            if (fresh.size, fresh.sha256) != (self.drs.size, self.drs.sha256):
                raise TransferFailed(
                    "the file changed in the archive during the download; run the command again"
                )
            self.drs = fresh
            self.generation += 1


class _Retry(Exception):
    """This attempt failed in a way another attempt may fix."""

    def __init__(
        self,
        detail: str,
        response: httpx.Response | None = None,
        unreachable: bool = True,
        reached: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.response = response
        self.unreachable = unreachable  # else: the storage answered, but badly
        self.reached = reached  # how far the bytes written reach, if any arrived


class RangeFetcher:
    """GETs ranges of one file and hands their bytes to ``write(offset, data)``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        url: ContentUrl,
        write: Write,
        pool: BufferPool,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._policy = policy
        self._url = url
        self._write = write
        self._pool = pool
        self._sleep = sleep

    async def fetch(self, wanted: ByteRange) -> None:
        position, attempt, renewals = wanted.start, 0, 0
        while position < wanted.end:
            generation = self._url.generation
            try:
                position = await self._attempt(ByteRange(position, wanted.end))
                continue
            except _Retry as problem:
                if problem.reached is not None and problem.reached > position:
                    position, attempt = problem.reached, 0  # progress: patience anew
                if problem.response is not None and problem.response.status_code == 403:
                    if renewals < MAX_RENEWALS:
                        renewals += 1
                        await self._url.renew(generation)
                        continue
                    raise TransferFailed(
                        f"{STORAGE} keeps refusing the download ({problem.detail}) even with "
                        "a fresh link."
                    ) from None
                if attempt >= self._policy.retries:
                    where = origin(self._url.drs.url)
                    message = f"{STORAGE} at {where} kept failing for {wanted.header()}"
                    if problem.unreachable:
                        raise Unreachable(f"{message} ({problem.detail}).") from None
                    raise TransferFailed(f"{message} ({problem.detail}).") from None
                await self._sleep(self._policy.wait(attempt, problem.response))
                attempt += 1

    async def _attempt(self, piece: ByteRange) -> int:
        """One GET of ``piece``; returns how far the bytes written reach."""
        headers = {
            "Range": piece.header(),
            "Cache-Control": "no-store",
            "Accept-Encoding": "identity",
        }
        buffer = self._pool.take()
        view, filled, base = memoryview(buffer), 0, piece.start
        try:
            async with self._client.stream("GET", self._url.drs.url, headers=headers) as response:
                await self._check(response, piece)
                async for chunk in response.aiter_raw():
                    if base + filled + len(chunk) > piece.end:
                        raise TransferFailed(f"{STORAGE} sent more bytes than asked for.")
                    data, taken = memoryview(chunk), 0
                    while taken < len(data):
                        count = min(len(data) - taken, len(view) - filled)
                        view[filled : filled + count] = data[taken : taken + count]
                        filled, taken = filled + count, taken + count
                        if filled == len(view):
                            await self._write(base, view)
                            base, filled = base + filled, 0
        except httpx.TransportError as error:
            await self._flush(base, view, filled)  # what arrived is good: keep it
            raise _Retry(type(error).__name__, reached=base + filled) from None
        else:
            await self._flush(base, view, filled)
        finally:
            self._pool.give(buffer)
        end = base + filled
        if end < piece.end:
            detail = f"the answer ended {piece.end - end} bytes early"
            raise _Retry(detail, unreachable=False, reached=end)
        return end

    async def _flush(self, base: int, view: memoryview, filled: int) -> None:
        if filled:
            await self._write(base, view[:filled])

    async def _check(self, response: httpx.Response, piece: ByteRange) -> None:
        status = response.status_code
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            # a shorter answer from the right start is fine: the rest is asked for again
            if match and (int(match.group(1)) != piece.start or int(match.group(2)) >= piece.end):
                raise TransferFailed(f"{STORAGE} answered another range than asked for.")
            if match and match.group(3) != "*" and int(match.group(3)) != self._url.drs.size:
                raise TransferFailed(
                    f"{STORAGE} holds {match.group(3)} bytes of this file, the archive said "
                    f"{self._url.drs.size}."
                )
            return
        if status == 200 and piece.start == 0 and piece.end == self._url.drs.size:
            return  # the whole object, asked for as one range
        if status == 200:
            raise TransferFailed(f"{STORAGE} ignored the byte range asked for.")
        await response.aread()  # an error: its (small) body says why
        if status == 403 or status in RETRY_STATUSES:
            raise _Retry(storage_detail(response), response)
        raise TransferFailed(f"{STORAGE} refused {piece.header()} ({storage_detail(response)}).")


async def fetch_ranges(
    ranges: list[ByteRange], fetch: Callable[[ByteRange], Awaitable[None]], concurrency: int
) -> None:
    """``fetch`` every range, at most ``concurrency`` at a time; the first failure stops all."""
    pending = iter(ranges)
    with ThreadPoolExecutor(1, thread_name_prefix="fs-ranges") as planner:
        await run_bounded(lambda: next(pending, None), fetch, concurrency, planner)
