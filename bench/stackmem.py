"""The stack's own memory while a file size is measured: the peak of the summed RSS of
the stack's whole process tree (S3 server, moto, Vault, the functions' runtime).

Why a tree and a sum: a stack is several processes (``weed``, moto, ``bao``, the Python
runtime that runs the functions), and what a newcomer's machine must hold is all of them
at once. The peak per size says whether the stack's memory grows with the file (moto
assembles each completed multipart object in memory; SeaweedFS streams it to disk).
Sampled every 0.2 s from /proc, so a spike shorter than that may be missed.
"""

from __future__ import annotations

import threading
from pathlib import Path

PERIOD_S = 0.2
_PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow the last ")"
        fields = stat[stat.rfind(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _rss(pid: int) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> int:
    """Summed RSS in bytes of ``root`` and every process below it, now."""
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss(pid)
        todo.extend(tree.get(pid, ()))
    return total


class StackMemory:
    """Follows a process tree's summed RSS on a thread; ``peak()`` since the last reset."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, name="stack-rss", daemon=True)

    @classmethod
    def of_endpoints(cls, endpoints: dict) -> StackMemory | None:
        """A sampler for the stack that wrote ``endpoints`` (None without its pid here)."""
        pid = endpoints.get("pid")
        if pid is None or not (_PROC / str(pid)).exists():
            return None
        return cls(int(pid))

    def start(self) -> StackMemory:
        self._thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.wait(PERIOD_S):
            now = tree_rss(self.root)
            with self._lock:
                self._peak = max(self._peak, now)

    def reset(self) -> None:
        with self._lock:
            self._peak = tree_rss(self.root)

    def peak(self) -> int:
        with self._lock:
            return max(self._peak, tree_rss(self.root))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
