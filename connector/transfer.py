"""Parallel transfers with bounded memory: produce pieces in order, move many at once.

A producer (reading and encrypting a file, or planning byte ranges) runs in a worker thread
so the event loop keeps the network busy; at most ``concurrency`` pieces exist at any
time (the one being produced included), so memory is about concurrency x piece size
whatever the file size; ``in_flight`` lowers the concurrency to a byte budget. The first
failure cancels the rest and is raised as itself.
"""

from __future__ import annotations

import asyncio
import queue
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

import httpx

from connector.errors import ConnectorError

T = TypeVar("T")


STORAGE = "The object storage"


def storage_detail(response: httpx.Response) -> str:
    """``HTTP <status>[, <S3 error code>]`` of a refusal (the body's XML ``<Code>``)."""
    code = re.search(r"<Code>([^<]{1,64})</Code>", response.text or "")
    return f"HTTP {response.status_code}" + (f", {code.group(1)}" if code else "")


def leaf_errors(group: BaseExceptionGroup) -> list[BaseException]:
    """The errors of a task group, nested groups flattened, in order."""
    flat: list[BaseException] = []
    for error in group.exceptions:
        flat += leaf_errors(error) if isinstance(error, BaseExceptionGroup) else [error]
    return flat


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The most telling error of a task group: a ConnectorError if there is one."""
    flat = leaf_errors(group)
    for error in flat:
        if isinstance(error, ConnectorError):
            return error
    return flat[0]


async def run_bounded(
    produce: Callable[[], T | None],
    handle: Callable[[T], Awaitable[None]],
    concurrency: int,
    producer_pool: Executor,
) -> None:
    """Call ``produce()`` (blocking, in ``producer_pool``) until it returns None and
    ``await handle(item)`` for each item, at most ``concurrency`` at a time."""
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(max(1, concurrency))

    async def run(item: T) -> None:
        try:
            await handle(item)
        finally:
            slots.release()

    try:
        async with asyncio.TaskGroup() as group:
            while True:
                await slots.acquire()
                try:
                    item = await loop.run_in_executor(producer_pool, produce)
                except BaseException:
                    slots.release()
                    raise
                if item is None:
                    slots.release()
                    break
                group.create_task(run(item))
    except BaseExceptionGroup as errors:
        raise first_error(errors) from None


def in_flight(concurrency: int, budget: int, piece_size: int) -> int:
    """Pieces of ``piece_size`` bytes to move at once: ``concurrency``, fewer if that many
    would hold more than ``budget`` bytes, never fewer than one (a piece is held whole)."""
    return min(concurrency, max(1, budget // max(1, piece_size)))


class BufferPool:
    """Buffers of one size, reused: fresh large allocations cost page faults every time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self.created = 0

    def take(self) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            self.created += 1
            return bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        self._free.put(buffer)
