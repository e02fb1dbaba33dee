"""The plot of docs/benchmarks.md: throughput and peak RSS by file size, per backend.

matplotlib is in the ``bench`` extra (installed by ``make bench``, not ``make install``);
without it the harness writes no plot and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.report import CLIENTS

PANELS = (
    ("upload", CLIENTS),
    ("download", CLIENTS),
    ("irs", ("irs invocation", "cpu ceiling (1 core)")),
)
STYLES = ("-", "--", ":")


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "bench: matplotlib is not installed (make bench installs it); no plot", file=sys.stderr
        )
        return False
    backends = {k: v for k, v in results["backends"].items() if "sizes" in v}
    figure, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=72)
    colors = {}
    for style, (name, backend) in zip(STYLES, backends.items(), strict=False):
        sizes = sorted((int(s), f) for s, f in backend["sizes"].items())
        xs = [s / 1024**2 for s, _ in sizes]
        for axis, (kind, clients) in zip(axes.flat, PANELS, strict=False):
            for client in clients:
                points = [f.get(kind, {}).get(client) for _, f in sizes]
                if not all(points):
                    continue
                med = [p["mib_per_s"]["median"] for p in points]
                err = [
                    [m - p["mib_per_s"]["min"] for m, p in zip(med, points, strict=True)],
                    [p["mib_per_s"]["max"] - m for m, p in zip(med, points, strict=True)],
                ]
                line = axis.errorbar(
                    xs,
                    med,
                    yerr=err,
                    linestyle=style,
                    marker="o",
                    capsize=3,
                    color=colors.get(client),
                    label=f"{client} [{name}]",
                )
                colors.setdefault(client, line[0].get_color())
            axis.set_title(f"{kind}: MiB/s (median, min-max; log scale)")
            axis.set_yscale("log")
        memory = axes.flat[3]
        for label, kind, client in (
            ("fs-connector upload", "upload", "fs-connector"),
            ("fs-connector download", "download", "fs-connector"),
            ("ghga-connector upload", "upload", "ghga-connector"),
            ("IRS invocation", "irs", "irs invocation"),
        ):
            points = [f.get(kind, {}).get(client) for _, f in sizes]
            if all(points) and all("peak_rss_mib" in p for p in points):
                memory.plot(
                    xs,
                    [p["peak_rss_mib"]["median"] for p in points],
                    linestyle=style,
                    marker="o",
                    label=f"{label} [{name}]",
                )
        memory.set_title("peak RSS, MiB (median)")
    for axis in axes.flat:
        axis.set_xscale("log", base=2)
        axis.set_xlabel("file size, MiB")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=6)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True
