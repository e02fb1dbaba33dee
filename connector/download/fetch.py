"""Fetch byte ranges of a file's content from its presigned URL, in parallel.

Each range is read into small buffers from a shared pool and written by position as
they fill, so memory is about ``concurrency`` buffers whatever the range size. A range
that breaks off (connection lost, short body, 5xx) continues from the last byte written;
a 403 means the presigned URL expired: a fresh one comes from DCS and the range is tried
again. The URL is a credential: messages name only the storage host. With a ``granule``
(a cipher segment, when each write is decrypted), only whole granules are written, except
at the end of the file, and a broken range continues from the last whole one.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from connector import __version__
from connector.api.dcs import DrsObject
from connector.download.direct import TRANSPORT_ERRORS, RangeConnections
from connector.download.ranges import Aborted, ByteRange
from connector.errors import TransferFailed, Unreachable
from connector.http import RETRY_STATUSES, RetryPolicy, origin
from connector.transfer import STORAGE, BufferPool, run_bounded, storage_detail
from shared.crypt.c4gh import CIPHER_SEGMENT_SIZE

CHUNK = 16 * CIPHER_SEGMENT_SIZE  # bytes gathered before a write: about 1 MiB, whole segments
MAX_RENEWALS = 3  # fresh URLs per range before giving up
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

USER_AGENT = f"fs-connector/{__version__}"

Write = Callable[[int, memoryview], None]  # called on the thread that read the bytes


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


class _DiskError(Exception):
    """Writing failed (an OSError that is not the network's): carried past the handlers
    of broken connections, raised again as it was."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class RangeFetcher:
    """GETs ranges of one file and hands their bytes to ``write(offset, data)``.

    The bodies are read on threads (``connector.download.direct``), and ``write`` is called
    there too; the retries, renewals and waits stay on the event loop. ``stop`` ends every
    read in flight (they raise Aborted) so that the threads can be joined.
    """

    def __init__(
        self,
        connections: RangeConnections,
        threads: ThreadPoolExecutor,
        policy: RetryPolicy,
        url: ContentUrl,
        write: Write,
        pool: BufferPool,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        granule: int = 1,
    ) -> None:
        if pool.size % granule:
            raise ValueError("the buffers must hold whole granules")
        self._granule = granule
        self._connections = connections
        self._threads = threads
        self._policy = policy
        self._url = url
        self._write = write
        self._pool = pool
        self._sleep = sleep
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Make every read in flight fail now, and every later one at once."""
        self._stopped.set()
        self._connections.close()

    async def fetch(self, wanted: ByteRange) -> None:
        position, attempt, renewals = wanted.start, 0, 0
        loop = asyncio.get_running_loop()
        while position < wanted.end:
            generation = self._url.generation
            try:
                piece = ByteRange(position, wanted.end)
                position = await loop.run_in_executor(self._threads, self._attempt, piece)
                continue
            except _Retry as problem:
                if self._stopped.is_set():
                    raise Aborted from None
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

    def _attempt(self, piece: ByteRange) -> int:
        """One GET of ``piece`` (on a thread); returns how far the bytes written reach."""
        try:
            return self._get(piece)
        except _DiskError as failed:
            raise failed.error from None

    def _store(self, offset: int, data: memoryview) -> None:
        try:
            self._write(offset, data)
        except OSError as error:
            raise _DiskError(error) from error

    def _get(self, piece: ByteRange) -> int:
        if self._stopped.is_set():
            raise Aborted
        url = self._url.drs.url
        headers = {
            "Range": piece.header(),
            "Cache-Control": "no-store",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
        }
        buffer = self._pool.take()
        view, filled, base = memoryview(buffer), 0, piece.start
        try:
            try:
                response = self._connections.get(url, headers)
            except TRANSPORT_ERRORS as error:
                raise self._broken(error) from None
            try:
                self._check(response, piece)
                if response.length is not None and response.length > piece.end - piece.start:
                    raise TransferFailed(f"{STORAGE} sent more bytes than asked for.")
                while base + filled < piece.end:
                    if self._stopped.is_set():
                        raise Aborted
                    want = min(len(view) - filled, piece.end - base - filled)
                    count = response.readinto(view[filled : filled + want])
                    if not count:
                        break  # the answer ended early: asked for again below
                    filled += count
                    if filled == len(view):
                        self._store(base, view)
                        base, filled = base + filled, 0
            except TRANSPORT_ERRORS as error:
                self._connections.drop(url)
                filled = self._flush(base, view, filled)  # what arrived is good: keep it
                raise self._broken(error, reached=base + filled) from None
            except BaseException:
                self._connections.drop(url)
                raise
            if not response.isclosed() or base + filled < piece.end:
                self._connections.drop(url)  # the answer was not read to its end: spent
            filled = self._flush(base, view, filled)
        finally:
            self._pool.give(buffer)
        end = base + filled
        if end < piece.end:
            detail = f"the answer ended {piece.end - end} bytes early"
            raise _Retry(detail, unreachable=False, reached=end)
        return end

    def _broken(self, error: BaseException, reached: int | None = None) -> BaseException:
        if self._stopped.is_set():
            return Aborted()
        return _Retry(type(error).__name__, reached=reached)

    def _flush(self, base: int, view: memoryview, filled: int) -> int:
        """Write what the buffer holds (whole granules unless it ends the file); how much."""
        if base + filled < self._url.drs.size:
            filled -= filled % self._granule
        if filled:
            self._store(base, view[:filled])
        return filled

    def _check(self, response: http.client.HTTPResponse, piece: ByteRange) -> None:
        status = response.status
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
        # an error: its (small) body says why
        answer = httpx.Response(status, headers=response.getheaders(), content=response.read())
        if status == 403 or status in RETRY_STATUSES:
            raise _Retry(storage_detail(answer), answer)
        raise TransferFailed(f"{STORAGE} refused {piece.header()} ({storage_detail(answer)}).")


async def fetch_ranges(
    ranges: list[ByteRange], fetch: Callable[[ByteRange], Awaitable[None]], concurrency: int
) -> None:
    """``fetch`` every range, at most ``concurrency`` at a time; the first failure stops all."""
    pending = iter(ranges)
    with ThreadPoolExecutor(1, thread_name_prefix="fs-ranges") as planner:
        await run_bounded(lambda: next(pending, None), fetch, concurrency, planner)
