"""The range fetcher against a small local S3-like server: ranges read on threads into the
pool's buffers, a broken answer continued from the last whole granule, an answer longer
than asked for refused, and ``stop`` that ends a read the server holds."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.api.dcs import DrsObject
from connector.download.direct import RangeConnections
from connector.download.fetch import ContentUrl, RangeFetcher
from connector.download.ranges import Aborted, ByteRange
from connector.errors import TransferFailed
from connector.http import RetryPolicy
from connector.transfer import BufferPool

CONTENT = os.urandom(300_000)
GRANULE = 1000


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        start, end = map(int, re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers["Range"]).groups())
        self.server.asked.append((start, end))
        data = CONTENT[start : end + 1]
        announced = len(data) + (5 if self.server.too_long else 0)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(CONTENT)}")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        if start in self.server.break_at:  # a part of the answer, then the connection drops
            self.server.break_at.discard(start)
            self.wfile.write(data[:2500])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.server.hold.is_set():
            self.wfile.write(data[:10])
            self.wfile.flush()
            self.server.release.wait(30)
            return
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked: list[tuple[int, int]] = []
        self.break_at: set[int] = set()
        self.too_long = False
        self.hold = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    running = _Server()
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield running
    running.release.set()
    running.shutdown()
    running.server_close()


def _fetch(server: _Server, ranges: list[ByteRange], stop_after: float | None = None):
    """Fetch ``ranges``; (what was written, by offset) or the exception raised."""
    url = f"http://127.0.0.1:{server.server_address[1]}/bucket/key"
    drs = DrsObject("F1", len(CONTENT), url, None)
    got = bytearray(len(CONTENT))
    writes: list[tuple[int, int]] = []

    def write(offset: int, data: memoryview) -> None:
        got[offset : offset + len(data)] = data
        writes.append((offset, len(data)))

    async def renew() -> DrsObject:
        return drs

    async def run() -> None:
        with ThreadPoolExecutor(4) as threads:
            fetcher = RangeFetcher(
                RangeConnections(timeout=30),
                threads,
                RetryPolicy(retries=2, backoff_base=0.01),
                ContentUrl(drs, renew),
                write,
                BufferPool(10 * GRANULE),
                granule=GRANULE,
            )
            try:
                work = asyncio.gather(*(fetcher.fetch(r) for r in ranges))
                if stop_after is None:
                    await work
                else:
                    await asyncio.sleep(stop_after)
                    fetcher.stop()
                    await work
            finally:
                fetcher.stop()

    asyncio.run(run())
    return bytes(got), writes


def test_ranges_arrive_whole_and_a_broken_answer_goes_on_from_a_granule(server: _Server) -> None:
    server.break_at.add(100_000)
    got, writes = _fetch(server, [ByteRange(0, 100_000), ByteRange(100_000, len(CONTENT))])
    assert got == CONTENT
    # 2,500 bytes came before the break: two whole granules were kept, the rest asked again
    assert (100_000, len(CONTENT) - 1) in server.asked
    assert (102_000, len(CONTENT) - 1) in server.asked
    assert all(offset % GRANULE == 0 for offset, _ in writes)
    assert all(size % GRANULE == 0 or offset + size == len(CONTENT) for offset, size in writes)


def test_an_answer_longer_than_asked_for_is_refused(server: _Server) -> None:
    server.too_long = True
    with pytest.raises(TransferFailed, match="sent more bytes than asked for"):
        _fetch(server, [ByteRange(0, 50_000)])


def test_stop_ends_a_read_the_server_holds(server: _Server) -> None:
    server.hold.set()
    started = time.monotonic()
    with pytest.raises(Aborted):
        _fetch(server, [ByteRange(0, 50_000)], stop_after=0.5)
    assert time.monotonic() - started < 10
