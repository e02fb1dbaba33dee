"""Pinning: the stack on some cores, the measured client on others (``--pin``).

Why: on a small machine the client under test and the S3 server share the cores, so a
throughput ratio of two clients shows their share of the machine, not the clients. With
the stack (every process and thread of ``fs-stack up``: moto, weed, bao, the runtime) and
the harness itself on one core and the measured child on another, the client's figures
are its own.

The stack is pinned and unpinned while it runs (``taskset -a -p`` on every process of its
tree, then read back from /proc), so that one run measures both placements on the same
stack; the measured child is started under ``taskset -c``, so the pinning applies to it
alone. A process that the stack starts later inherits the mask of its parent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


class PinningError(RuntimeError):
    """Pinning is not possible here (no taskset, too few cores) or did not take."""


def cpu_list(cores: Iterable[int]) -> str:
    """taskset's list form: ``0`` or ``0,2,3``."""
    chosen = sorted(set(cores))
    if not chosen or chosen[0] < 0:
        raise ValueError("give at least one core number, none below zero")
    return ",".join(str(core) for core in chosen)


def parse_cpu_list(text: str) -> frozenset[int]:
    """/proc's ``Cpus_allowed_list`` (``0-1,4``) as a set of cores."""
    cores: set[int] = set()
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            cores.update(range(int(low), int(high or low) + 1))
    return frozenset(cores)


def client_argv(
    argv: Sequence[str], cores: Iterable[int] | None, taskset: str = "taskset"
) -> list[str]:
    """The measured child's command: under ``taskset -c`` when it has cores of its own.
    taskset execs the command, so the child's pid, RSS and CPU time stay the client's."""
    if cores is None:
        return list(argv)
    return [taskset, "-c", cpu_list(cores), *argv]


def tree_argv(pid: int, cores: Iterable[int], taskset: str = "taskset") -> list[str]:
    """Set the mask of every thread of process ``pid`` (``-a``: all its tasks)."""
    return [taskset, "-a", "-p", "-c", cpu_list(cores), str(pid)]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``children`` file, or a /proc scan)."""
    found: set[int] = set()
    tasks = PROC / str(pid) / "task"
    try:
        for task in tasks.iterdir():
            text = (task / "children").read_text()
            found.update(int(p) for p in text.split())
        return sorted(found)
    except OSError:
        pass
    for entry in PROC.iterdir():  # kernels without the children file
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return sorted(found)


def tree(roots: Iterable[int]) -> list[int]:
    """``roots`` and all their descendants that are alive now."""
    seen: list[int] = []
    todo = [p for p in roots if (PROC / str(p)).exists()]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(children(pid))
    return seen


def allowed(pid: int) -> dict[int, frozenset[int]]:
    """Each live thread of ``pid``: the cores it may run on."""
    found: dict[int, frozenset[int]] = {}
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    found[int(task.name)] = parse_cpu_list(line.split(":", 1)[1])
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class Placement:
    """Which cores the stack side (stack and harness) and the measured client get."""

    stack_cores: frozenset[int]
    client_cores: frozenset[int]

    @classmethod
    def split(cls, available: Iterable[int] | None = None) -> Placement:
        """The first core for the stack, the second for the client (a 2-core machine)."""
        cores = sorted(available if available is not None else os.sched_getaffinity(0))
        if len(cores) < 2:
            raise PinningError(f"--pin needs two cores, this process may use {cores}")
        return cls(frozenset(cores[:1]), frozenset(cores[1:2]))

    def to_json(self) -> dict[str, list[int]]:
        return {"stack_cores": sorted(self.stack_cores), "client_cores": sorted(self.client_cores)}


class Pinner:
    """Moves the stack's process tree (and the harness's) between two masks."""

    def __init__(self, roots: Sequence[int], placement: Placement) -> None:
        taskset = shutil.which("taskset")
        if taskset is None:
            raise PinningError("--pin needs taskset (util-linux)")
        self.taskset = taskset
        self.roots = list(roots)
        self.placement = placement
        self.everywhere = frozenset(os.sched_getaffinity(0))  # what "unpinned" restores
        self.checked: dict[str, dict[str, int]] = {}  # the last read-back of each mask

    def pin(self) -> None:
        self.checked["pinned"] = self._apply(self.placement.stack_cores)

    def unpin(self) -> None:
        self.checked["unpinned"] = self._apply(self.everywhere)

    def _apply(self, cores: frozenset[int]) -> dict[str, int]:
        """Set, then read back, the mask of every thread of the tree; a thread born or a
        process gone in between is caught by the second round."""
        for _ in range(3):
            pids = tree(self.roots)
            for pid in pids:
                subprocess.run(
                    tree_argv(pid, cores, self.taskset), capture_output=True, check=False
                )
            masks = {tid: mask for pid in tree(self.roots) for tid, mask in allowed(pid).items()}
            wrong = sorted(tid for tid, mask in masks.items() if mask != cores)
            if not wrong:
                return {"processes": len(pids), "threads": len(masks)}
        raise PinningError(f"threads {wrong[:10]} did not take the mask {cpu_list(cores)}")
