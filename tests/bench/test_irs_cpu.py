"""The IRS CPU breakdown: the ledger charges each step its own CPU, and the report prints
the breakdown and checks the CPU target against the ceiling (no timing is asserted)."""

from __future__ import annotations

import hashlib
import os

from bench import irs_cpu, report
from bench.irs import breakdown_per_gib


class _Steps:
    def outer(self, data: bytes) -> None:
        for _ in range(20):
            hashlib.sha256(data).digest()
        self.inner(data)

    def inner(self, data: bytes) -> None:
        for _ in range(40):
            hashlib.sha256(data).digest()

    def unwrapped(self, data: bytes) -> None:
        hashlib.sha256(data).digest()


def test_the_ledger_charges_a_step_its_own_cpu_and_the_callee_its_own() -> None:
    ledger = irs_cpu.Ledger()
    ledger.charge(_Steps, "outer", irs_cpu.CRYPT)
    ledger.charge(_Steps, "inner", irs_cpu.PART_SUMS)
    data = os.urandom(1 << 20)
    steps = _Steps()
    steps.outer(data)
    steps.unwrapped(data)  # charged to nobody, i.e. "other"
    split = ledger.breakdown(total_cpu_s=100.0)
    assert split[irs_cpu.PART_SUMS] > split[irs_cpu.CRYPT] > 0  # 40 hashes against 20
    assert split[irs_cpu.READ] == 0
    charged = split[irs_cpu.CRYPT] + split[irs_cpu.PART_SUMS]
    assert abs(split[irs_cpu.OTHER] - (100.0 - charged)) < 0.01
    assert list(split) == list(irs_cpu.CATEGORIES)


def _results(own: float, ceiling: float) -> dict:
    gib = 1024**3
    runs = [{c: 0.1 for c in irs_cpu.CATEGORIES}, {c: 0.3 for c in irs_cpu.CATEGORIES}]
    invocation = {
        "bytes": gib,
        "mib_per_s": {"median": 100.0, "min": 90.0, "max": 110.0},
        "cpu_s_per_gib": {"median": own, "min": own, "max": own},
        "process_cpu_s_per_gib": {"median": own + 1, "min": own + 1, "max": own + 1},
        "cpu_breakdown_s_per_gib": breakdown_per_gib(runs, 1.0),
    }
    cpu = {
        "bytes": gib,
        "mib_per_s": {"median": 300.0, "min": 300.0, "max": 300.0},
        "cpu_s_per_gib": {"median": ceiling, "min": ceiling, "max": ceiling},
    }
    irs = {"irs invocation": invocation, "cpu ceiling (1 core)": cpu}
    return {"conditions": {}, "backends": {"seaweedfs": {"sizes": {str(gib): {"irs": irs}}}}}


def test_the_report_prints_where_the_cpu_goes_and_checks_the_target() -> None:
    results = _results(own=5.0, ceiling=4.0)
    lines = report._irs_cpu_table(report._sizes(results["backends"]["seaweedfs"]))
    assert all(category in lines[0] for category in irs_cpu.CATEGORIES)
    assert "| 5.0 (5.0-5.0) | 6.0 (6.0-6.0) | 4.0 (4.0-4.0) | 1.25x |" in lines[2]
    assert lines[2].count("0.20") == len(irs_cpu.CATEGORIES)  # the median of 0.1 and 0.3
    [met] = [t for t in report.targets(results) if "CPU per GiB" in t["target"]]
    assert met["met"] and met["worst"] == 1.25
    [missed] = [
        t for t in report.targets(_results(own=6.0, ceiling=4.0)) if "CPU per GiB" in t["target"]
    ]
    assert not missed["met"] and missed["worst"] == 1.5
