"""Start ``fs-stack up`` as a child process and wait until it is ready.

The tests' session fixture and the journey both start the stack this way,
exactly as a user would, on free loopback ports.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# a stack uses BASE to BASE+11 at most (the seaweedfs backend: BASE+4 to BASE+11)
PORTS_PER_STACK = 12


def free_port_base(count: int = 4) -> int:
    """A port base with ``count`` consecutive free loopback ports."""
    for _ in range(200):
        # below Linux's ephemeral range (32768+), where outgoing connections take ports
        base = random.randint(20000, 32000)
        free = True
        for port in range(base, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return base
    raise RuntimeError("no free loopback ports")


def open_private(path: Path, *, append: bool = False) -> IO[bytes]:
    """``path`` opened for writing, readable by its owner alone (0600 even if it existed
    with a wider mode): the stack's logs may name ids and URLs that are nobody else's."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb")


@dataclass
class StackProcess:
    process: subprocess.Popen[bytes]
    state_dir: Path
    endpoints: dict[str, Any]

    @property
    def output(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.out"

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)


def start_stack_process(
    state_dir: Path, *extra: str, timeout: float = 120, env: dict[str, str] | None = None
) -> StackProcess:
    """``env``: variables added to the stack's environment (FS_TEST_MIN_PART_SIZE for a
    scaled-down stack, tests/scale)."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    output = state_dir.parent / f"{state_dir.name}.out"
    with open_private(output) as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "testbed.stack",
                "up",
                "--port-base",
                str(free_port_base(PORTS_PER_STACK)),
                "--state-dir",
                str(state_dir),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
            env={
                **os.environ,
                "FS_LOG_LEVEL": os.environ.get("FS_LOG_LEVEL", "WARNING"),
                **(env or {}),
            },
        )
    endpoints_file = state_dir / "endpoints.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"fs-stack exited with {process.returncode}: {output.read_text()[-2000:]}"
            )
        if endpoints_file.exists():
            return StackProcess(process, state_dir, json.loads(endpoints_file.read_text()))
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"fs-stack did not become ready in {timeout:.0f}s")
