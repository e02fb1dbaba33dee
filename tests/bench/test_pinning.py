"""``--pin``: the commands that put the measured client and the stack on disjoint cores,
and a real process tree moved between masks (read back from /proc). No timing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import pinning, tools
from bench.pinning import Pinner, PinningError, Placement, client_argv, tree_argv

TWO_CORES = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None


def test_the_client_runs_under_taskset_only_when_it_has_cores() -> None:
    argv = ["/venv/bin/fs-connector", "upload", "f.bin", "--quiet"]
    assert client_argv(argv, None) == argv
    assert client_argv(argv, frozenset({1})) == ["taskset", "-c", "1", *argv]
    assert client_argv(argv, {3, 1}, taskset="/usr/bin/taskset")[:3] == [
        "/usr/bin/taskset",
        "-c",
        "1,3",
    ]
    with pytest.raises(ValueError):
        client_argv(argv, set())


def test_every_thread_of_a_stack_process_is_set() -> None:
    assert tree_argv(4242, {0}) == ["taskset", "-a", "-p", "-c", "0", "4242"]
    assert tree_argv(7, range(2), taskset="/usr/bin/taskset") == [
        "/usr/bin/taskset",
        "-a",
        "-p",
        "-c",
        "0,1",
        "7",
    ]


def test_proc_cpu_lists_are_read_as_sets() -> None:
    assert pinning.parse_cpu_list("0-2,5\n") == {0, 1, 2, 5}
    assert pinning.parse_cpu_list("1") == {1}


def test_two_cores_split_into_stack_and_client() -> None:
    placement = Placement.split([1, 0])
    assert placement.stack_cores == {0} and placement.client_cores == {1}
    assert placement.to_json() == {"stack_cores": [0], "client_cores": [1]}
    with pytest.raises(PinningError):
        Placement.split([0])


def test_a_pinned_transfer_starts_each_client_under_taskset(tmp_path: Path) -> None:
    """The pinned cores reach the child's argv; a Transfer without settings leaves each
    client's own defaults (no part size or concurrency in its environment)."""
    pinned = tools.Transfer(8 * 2**20, 8, frozenset({1}))
    assert pinned.argv(["fs-connector"]) == ["taskset", "-c", "1", "fs-connector"]
    assert tools.Transfer(8 * 2**20, 8).argv(["fs-connector"]) == ["fs-connector"]
    stack = SimpleNamespace(endpoints={"wkvs_url": "http://127.0.0.1:1"})
    user = SimpleNamespace(public_path=tmp_path / "k.pub", private_path=tmp_path / "k.sec")
    fs_same = tools.fs_env(stack, user, "wpat", tmp_path, pinned)
    assert fs_same["FS_CONNECTOR_PART_SIZE"] == str(8 * 2**20)
    assert fs_same["FS_CONNECTOR_CONCURRENCY"] == "8"
    own = tools.Transfer(None, None)
    fs_own, ghga_own = tools.fs_env(stack, user, "w", tmp_path, own), tools.ghga_env(stack, own)
    assert not {"FS_CONNECTOR_PART_SIZE", "FS_CONNECTOR_CONCURRENCY"} & set(fs_own)
    assert not {k for k in ghga_own if "PART_SIZE" in k or "CONCURRENT" in k}
    assert tools.ghga_env(stack, pinned)["GHGA_CONNECTOR_MAX_CONCURRENT_UPLOADS"] == "8"


TREE = """
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(child.pid, flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not TWO_CORES, reason="needs two cores and taskset")
def test_a_process_tree_is_pinned_and_unpinned_thread_by_thread() -> None:
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while len(pinning.allowed(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the parent's second thread
        placement = Placement.split()
        pinner = Pinner([parent.pid], placement)
        everywhere = frozenset(os.sched_getaffinity(0))
        assert set(pinning.tree([parent.pid])) == {parent.pid, child}

        pinner.pin()
        for pid in (parent.pid, child):
            masks = pinning.allowed(pid)
            assert masks and set(masks.values()) == {placement.stack_cores}, pid
        assert pinner.checked["pinned"]["processes"] == 2
        assert pinner.checked["pinned"]["threads"] >= 3
        assert os.sched_getaffinity(0) == everywhere  # the caller was not in the tree

        pinner.unpin()
        for pid in (parent.pid, child):
            assert set(pinning.allowed(pid).values()) == {everywhere}, pid
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
