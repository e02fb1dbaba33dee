"""The benchmark harness, run small against the session stack so that it cannot rot.

No timing is asserted: only that every figure was measured, reported and checked, at
the same settings, at each client's defaults and, where there are two cores, pinned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import irs_cpu, report
from tests.support import REPO, RunningStack

SECTIONS = ("upload", "irs", "download")
PIN = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None


def _bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_small_run_measures_and_reports_every_figure(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    out_md.write_text("# Notes kept\n\n" + report.BEGIN + "\nold\n" + report.END + "\ntail\n")
    result = _bench(
        "--endpoints",
        str(running_stack.state_dir / "endpoints.json"),
        "--sizes",
        "6M",
        "--runs",
        "1",
        "--parallel",
        "1,2",
        "--parallel-size",
        "6M",
        "--json",
        str(out_json),
        "--markdown",
        str(out_md),
        "--no-plot",
        "--workdir",
        str(tmp_path),
        *(["--pin"] if PIN else []),
        timeout=420,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out_json.read_text())
    assert results["conditions"]["cores"] >= 1 and results["conditions"]["runs"] == 1
    (backend,) = results["backends"].values()
    figures = backend["sizes"][str(6 * 1024**2)]
    irs = figures["irs"]["irs invocation"]  # its own CPU, and where it went
    assert irs["cpu_s_per_gib"]["median"] > 0 and irs["process_cpu_s_per_gib"]["median"] > 0
    assert list(irs["cpu_breakdown_s_per_gib"]) == list(irs_cpu.CATEGORIES)
    assert figures["irs"]["cpu ceiling (1 core)"]["cpu_s_per_gib"]["median"] > 0
    assert "Interrogation CPU per GiB, and where it goes:" in out_md.read_text()
    variants = {"defaults": 2, **({"pinned": 3} if PIN else {})}  # clients measured
    assert set(figures) == {*SECTIONS, *variants, "stack_peak_rss_mib"}
    assert figures["stack_peak_rss_mib"] > 50  # moto, OpenBao and the runtime at least
    for section in SECTIONS:
        for client, figure in figures[section].items():
            assert figure["runs"] == 1, (section, client)
            assert figure["mib_per_s"]["median"] > 0, (section, client)
    for variant, clients in variants.items():
        for kind in ("upload", "download"):
            measured = figures[variant][kind]
            assert len(measured) == clients, (variant, kind)
            assert all(f["cpu_s_per_gib"]["median"] > 0 for f in measured.values())
    defaults = results["conditions"]["defaults"]
    assert defaults["fs-connector"]["part_size"] > 0 and defaults["ghga-connector"]["part_size"]
    if PIN:
        pinned = backend["pinning"]
        assert pinned["stack_cores"] != pinned["client_cores"]
        assert pinned["checked"]["pinned"]["processes"] >= 2  # the harness and the stack
    for client in ("fs-connector", "ghga-connector", "boto3 (raw)"):
        assert figures["upload"][client]["peak_rss_mib"]["median"] > 10
    assert figures["irs"]["irs invocation"]["peak_rss_mib"]["median"] > 10
    for way in ("parallel", "parallel_download"):
        assert set(backend[way]) == {"1", "2"}, way
        assert backend[way]["2"]["bytes"] == 2 * 6 * 1024**2
        assert backend[way]["2"]["mib_per_s"]["median"] > 0
    assert {t["target"].split(":")[0] for t in results["targets"]} >= {"upload", "download", "irs"}
    text = out_md.read_text()
    assert text.startswith("# Notes kept") and text.endswith("tail\n") and "old" not in text
    assert "| 6 MiB |" in text and "fs-connector" in text
    assert "| 6 MiB | upload | own defaults (fs " in text
    assert ("| 6 MiB | download | stack on " in text) is PIN
    # the stack is unpinned again: every thread of it may use every core
    from bench import pinning

    everywhere = frozenset(os.sched_getaffinity(0))
    for pid in pinning.tree([int(running_stack.endpoints["pid"])]):
        assert set(pinning.allowed(pid).values()) <= {everywhere}, pid
    # the harness left the stack's own interrogation running
    import httpx

    control = f"{running_stack.endpoints['api_url']}/_runtime/consumers/irs/resume"
    assert httpx.post(control).json()["paused"] is False
    assert not list(tmp_path.glob("fs-bench-*"))  # test files removed


def test_bad_options_get_a_message_not_a_traceback() -> None:
    for args in (["--sizes", "lots"], ["--parallel", "0"], ["--backends", "aws"]):
        result = _bench(*args, timeout=60)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_targets_are_checked_against_the_worst_size() -> None:
    def fig(speed: float, rss: float = 100) -> dict:
        return {
            "mib_per_s": {"median": speed, "min": speed, "max": speed},
            "peak_rss_mib": {"median": rss, "min": rss, "max": rss},
        }

    def size(fs: float, ghga: float, raw: float, irs: float, rss: float) -> dict:
        clients = {
            "fs-connector": fig(fs, rss),
            "ghga-connector": fig(ghga),
            "boto3 (raw)": fig(raw),
        }
        return {
            "upload": clients,
            "download": clients,
            "irs": {"irs invocation": fig(irs, rss), "cpu ceiling (1 core)": fig(100)},
        }

    results = {
        "backends": {
            "b": {"sizes": {"1": size(30, 10, 35, 70, 100), "2": size(20, 10, 40, 50, 130)}}
        }
    }
    found = {t["target"]: t for t in report.targets(results)}
    assert found["upload: fs-connector / ghga-connector ≥ 1.5"]["worst"] == 2.0
    assert found["upload: fs-connector / ghga-connector ≥ 1.5"]["met"] is True
    assert found["upload: fs-connector / boto3 ≥ 0.8"]["worst"] == 0.5
    assert found["upload: fs-connector / boto3 ≥ 0.8"]["met"] is False
    assert found["irs: invocation / cpu ceiling ≥ 0.6"]["met"] is False
    growth = found["peak RSS connector upload: largest / smallest size ≤ 1.2"]
    assert (growth["worst"], growth["met"]) == (1.3, False)
