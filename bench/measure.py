"""Run a measured subprocess (wall time, peak RSS) and summarise repeated runs.

Why subprocesses: a child's peak RSS is that program's memory high-water mark, not the
harness's; and a fresh process per run means no warm caches or connection pools carried
between runs.

Peak RSS comes from the child's VmHWM in /proc, read while it runs (it only grows, so the
last reading is the peak, give or take the last 10 ms), not from wait4()'s ru_maxrss: on
Linux that also counts the harness's own memory, which the child shares between fork (or
vfork) and exec. A 500 MB parent starting /bin/true saw 1011 MiB there.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


class BenchError(RuntimeError):
    """A measured step failed; the message says which and shows the tail of its output."""


@dataclass
class Measured:
    seconds: float
    peak_rss: int  # bytes
    returncode: int
    cpu_seconds: float  # user + system time of the child (and its waited-for children)
    stdout: str
    stderr: str

    def check(self, what: str, expect: str | None = None) -> Measured:
        """Raise BenchError unless it exited 0 (and printed ``expect``)."""
        output = self.stdout + self.stderr
        if self.returncode != 0 or (expect is not None and expect not in output):
            raise BenchError(f"{what} failed (exit {self.returncode}): {output.strip()[-1500:]}")
        return self


def start(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str = "",
    new_session: bool = False,
) -> tuple[subprocess.Popen[bytes], float, list[Any]]:
    """Start a child with its output in temporary files (no pipe can fill up)."""
    files = [tempfile.TemporaryFile() for _ in range(3)]  # noqa: SIM115 - closed in finish()
    files[0].write(stdin.encode())
    files[0].seek(0)
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=files[0],
        stdout=files[1],
        stderr=files[2],
        env=env,
        cwd=cwd,
        start_new_session=new_session,
    )
    return process, started, files


_OWN_CMDLINE = Path("/proc/self/cmdline")


def high_water_mark(pid: int, own_cmdline: bytes) -> int | None:
    """VmHWM of a running process in bytes; None before its exec (while it still shows
    the harness's memory), once it has exited, or where there is no /proc."""
    try:
        if Path(f"/proc/{pid}/cmdline").read_bytes() == own_cmdline:
            return None
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def finish(
    process: subprocess.Popen[bytes], started: float, files: list[Any], timeout: float = 3600
) -> Measured:
    """Wait for the child (bounded), following its peak RSS while it runs."""
    deadline = time.monotonic() + timeout
    own = _OWN_CMDLINE.read_bytes() if _OWN_CMDLINE.exists() else b""
    peak: int | None = None
    while True:
        reading = high_water_mark(process.pid, own)
        if reading is not None:
            peak = max(peak or 0, reading)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            os.wait4(process.pid, 0)
            raise BenchError(f"{process.args!r} did not finish within {timeout:.0f}s")
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = (_read(f) for f in files[1:])
    for handle in files:
        handle.close()
    cpu = usage.ru_utime + usage.ru_stime
    if peak is None:  # no /proc, or gone within 10 ms: wait4's figure (see the docstring)
        peak = usage.ru_maxrss * 1024
    return Measured(seconds, peak, process.returncode, cpu, out, err)


def _read(handle: Any) -> str:
    handle.seek(0)
    return handle.read().decode(errors="replace")


def run(argv: Sequence[str], *, timeout: float = 3600, **kwargs: Any) -> Measured:
    """One measured child, from start to exit."""
    process, started, files = start(argv, **kwargs)
    return finish(process, started, files, timeout)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max (the issue asks for each figure in that form)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


@dataclass
class Sample:
    """Repeated runs of one measurement: bytes moved per run, seconds and peak RSS."""

    nbytes: int
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(
        self, seconds: float, peak_rss: int | None = None, cpu_seconds: float | None = None
    ) -> None:
        self.seconds.append(seconds)
        if peak_rss is not None:
            self.peak_rss.append(peak_rss)
        if cpu_seconds is not None:
            self.cpu_seconds.append(cpu_seconds)

    def measured(self, result: Measured) -> None:
        """Add a child's run: wall time, peak RSS and CPU time."""
        self.add(result.seconds, result.peak_rss, result.cpu_seconds)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bytes": self.nbytes,
            "runs": len(self.seconds),
            "seconds": [round(s, 3) for s in self.seconds],
            "mib_per_s": {
                k: round(v, 1)
                for k, v in spread([self.nbytes / MIB / s for s in self.seconds]).items()
            },
        }
        if self.peak_rss:
            data["peak_rss_mib"] = {k: round(v / MIB, 1) for k, v in spread(self.peak_rss).items()}
        if self.cpu_seconds:
            per_gib = [c / (self.nbytes / 1024**3) for c in self.cpu_seconds]
            data["cpu_s_per_gib"] = {k: round(v, 1) for k, v in spread(per_gib).items()}
        data.update(self.extra)
        return data
