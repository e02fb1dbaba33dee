"""Which bytes of a file's content are on disk, and which ranges are still to be fetched.

Offsets are content offsets (the envelope is not counted), ends exclusive. ``Written`` is
shared by the threads of one download: range fetchers add what they wrote, the resume
record saves it, and the verifier waits for the contiguous prefix to grow.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    def header(self) -> str:
        """The HTTP Range header value (inclusive end)."""
        return f"bytes={self.start}-{self.end - 1}"


class Intervals:
    """Sorted, merged, non-empty [start, end) intervals."""

    def __init__(self, items: Iterable[tuple[int, int]] = ()) -> None:
        self._items: list[tuple[int, int]] = []
        for start, end in items:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        index = bisect.bisect_left(self._items, (start, start))
        if index and self._items[index - 1][1] >= start:  # touches the one before
            index -= 1
            start = self._items[index][0]
        stop = index
        while stop < len(self._items) and self._items[stop][0] <= end:
            end = max(end, self._items[stop][1])
            stop += 1
        self._items[index:stop] = [(start, end)]

    def items(self) -> list[tuple[int, int]]:
        return list(self._items)

    def covered(self) -> int:
        return sum(end - start for start, end in self._items)

    def prefix(self) -> int:
        """How many bytes from offset 0 on are all present."""
        if self._items and self._items[0][0] == 0:
            return self._items[0][1]
        return 0

    def gaps(self, size: int) -> list[tuple[int, int]]:
        """The intervals of [0, size) not covered."""
        gaps, position = [], 0
        for start, end in self._items:
            if start >= size:
                break
            if start > position:
                gaps.append((position, start))
            position = max(position, end)
        if position < size:
            gaps.append((position, size))
        return gaps

    def clipped(self, size: int) -> Intervals:
        return Intervals((s, min(e, size)) for s, e in self._items if s < size)


def plan_ranges(done: Intervals, size: int, range_size: int) -> list[ByteRange]:
    """The range requests that fetch what ``done`` lacks, at most ``range_size`` each."""
    if range_size < 1:
        raise ValueError("range_size must be positive")
    return [
        ByteRange(start, min(start + range_size, end))
        for gap_start, end in done.gaps(size)
        for start in range(gap_start, end, range_size)
    ]


class Aborted(Exception):
    """The download stopped; whoever waits for more bytes gives up."""


class Written:
    """The bytes on disk of one download, shared between threads."""

    def __init__(self, done: Intervals | None = None) -> None:
        self._done = done or Intervals()
        self._changed = threading.Condition()
        self._aborted = False

    def add(self, start: int, end: int) -> None:
        with self._changed:
            self._done.add(start, end)
            self._changed.notify_all()

    def snapshot(self) -> list[tuple[int, int]]:
        with self._changed:
            return self._done.items()

    def covered(self) -> int:
        with self._changed:
            return self._done.covered()

    def wait_for_prefix(self, offset: int) -> None:
        """Block until bytes [0, offset) are all written; Aborted if the download stops."""
        with self._changed:
            while self._done.prefix() < offset:
                if self._aborted:
                    raise Aborted
                self._changed.wait()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()
