"""The harness's peak RSS is the measured program's own, whatever the harness holds."""

from __future__ import annotations

import sys

from bench.measure import MIB, run

GROW = (
    "import time; b = bytearray({mib} * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)"
)


def test_peak_rss_is_the_childs_not_the_harnesss() -> None:
    ballast = bytearray(400 * MIB)  # the harness's own memory, touched so that it is resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    idle = run([sys.executable, "-c", "import time; time.sleep(0.3)"]).check("idle child")
    grown = run([sys.executable, "-c", GROW.format(mib=200)]).check("growing child")
    del ballast
    assert idle.peak_rss < 100 * MIB  # an idle interpreter, not 400 MiB more
    assert 200 * MIB <= grown.peak_rss < 300 * MIB
