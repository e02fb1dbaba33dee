"""``python -m bench``: run the benchmarks on one or more stacks and write the results.

For each backend: start a stack (or attach to a running one with ``--endpoints``), pause
its own IRS, then per file size: uploads (fs-connector, GHGA's client, boto3, the CPU
ceiling), one IRS invocation per fs-connector upload, downloads of the file the last
invocation published; then parallel uploads and parallel downloads. Uploads and downloads
are measured at the same settings for both clients, at each client's defaults, and with
``--pin`` also with the stack and the client on disjoint cores (bench/variants.py).
Results go to a JSON file, a table in a markdown file and a plot (bench/report.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from bench import download, files, irs, parallel, report, upload
from bench.context import Context
from bench.pinning import Pinner, PinningError, Placement
from bench.stack import BenchStack
from bench.stackmem import StackMemory
from bench.tools import REPO, ToolMissing, Transfer, ghga_bin
from bench.variants import SAME, client_defaults, variants

SECTIONS = ("upload", "irs", "download", "parallel")
BACKENDS = ("embedded", "localstack-host", "seaweedfs")


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({files.parse_size(part) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("give at least one size above zero")
    return sizes


def _counts(text: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,2,4") from None
    if not counts or counts[0] < 1 or counts[-1] > 16:
        raise argparse.ArgumentTypeError("parallel counts are between 1 and 16")
    return counts


def _choices(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        unknown = sorted(set(chosen) - set(allowed))
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
        return chosen

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_sizes, default=_sizes("64M,256M,1G"), help="e.g. 64M,1G")
    p.add_argument("--runs", type=int, default=3, help="runs per figure (median, min, max)")
    p.add_argument(
        "--backends", type=_choices(BACKENDS), default=["embedded"], help=",".join(BACKENDS)
    )
    p.add_argument("--endpoints", type=Path, help="use this running stack's endpoints.json")
    p.add_argument("--sections", type=_choices(SECTIONS), default=list(SECTIONS))
    p.add_argument(
        "--parallel", type=_counts, default=[1, 2, 4], help="files at once, each way (1,2,4)"
    )
    p.add_argument("--parallel-size", type=files.parse_size, default=256 * 1024**2)
    p.add_argument("--part-size", type=files.parse_size, default=8 * 1024**2)
    p.add_argument("--concurrency", type=int, default=8, help="parts/ranges in flight")
    p.add_argument(
        "--pin",
        action="store_true",
        help="also measure with the stack (and harness) on core 0, the client on core 1",
    )
    p.add_argument(
        "--no-defaults",
        action="store_true",
        help="skip the runs at each client's own default part size and concurrency",
    )
    p.add_argument("--workdir", type=Path, help="where test files go (default: a temp dir)")
    p.add_argument("--json", type=Path, default=REPO / "docs" / "benchmarks.json")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "benchmarks.png")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument(
        "--report-only", action="store_true", help="measure nothing: rewrite the report from --json"
    )
    return p


def conditions(args: argparse.Namespace, placement: Placement | None) -> dict[str, Any]:
    """What the numbers depend on, recorded with them."""
    import cryptography

    from connector import __version__ as fs_version

    ghga = sorted((REPO / ".venv-ghga").glob("lib/python*/site-packages/ghga_connector-*"))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "fs_connector": fs_version,
        "ghga_connector": ghga[0].name.removesuffix(".dist-info").split("-")[1] if ghga else None,
        "sizes": args.sizes,
        "runs": args.runs,
        "part_size": args.part_size,
        "concurrency": args.concurrency,
        "parallel": args.parallel,
        "parallel_size": args.parallel_size,
        "pinning": placement.to_json() if placement else None,
        "defaults": None if args.no_defaults else client_defaults(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def _file(figures: dict[str, Any], kind: str, by_variant: dict[str, Any]) -> None:
    """``same`` under ``figures[kind]`` (as before variants), the others under their key."""
    for key, clients in by_variant.items():
        if key == SAME:
            figures[kind] = clients
        else:
            figures.setdefault(key, {})[kind] = clients


def bench_stack(
    stack: BenchStack,
    args: argparse.Namespace,
    work: Path,
    placement: Placement | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    """Measure every section on ``stack``, filling ``result`` as it goes (so a failure
    late in the run keeps what was measured before it)."""
    transfer = Transfer(args.part_size, args.concurrency)
    ctx = Context.open(stack, work, transfer, args.runs)
    chosen = variants(args.part_size, args.concurrency, placement, not args.no_defaults)
    result.update({"backend": stack.backend, "sizes": {}})
    if placement is not None:  # the stack's tree and the harness itself
        if "pid" not in stack.endpoints:
            ctx.close()
            raise PinningError("--pin needs the stack's pid in endpoints.json (fs-stack writes it)")
        ctx.pinner = Pinner([os.getpid(), int(stack.endpoints["pid"])], placement)
        result["pinning"] = {**placement.to_json(), "checked": ctx.pinner.checked}
    stack.set_interrogation(False)
    memory = StackMemory.of_endpoints(stack.endpoints)
    if memory is not None:
        memory.start()
    try:
        for size in args.sizes:
            path = work / f"bench-{size}.bin"
            ctx.say(f"writing a {files.human(size)} test file")
            sha256 = files.make_file(path, size)
            figures: dict[str, Any] = result["sizes"].setdefault(str(size), {})
            if memory is not None:
                memory.reset()
            try:
                if {"upload", "irs", "download"} & set(args.sections):
                    by_variant, kept = upload.run(ctx, path, size, chosen)
                    _file(figures, "upload", by_variant)
                    if {"irs", "download"} & set(args.sections):
                        figures["irs"], published = irs.run(ctx, kept, size)
                        if "download" in args.sections:
                            by_variant = download.run(ctx, published, size, sha256, chosen)
                            _file(figures, "download", by_variant)
                    else:
                        for uploaded in kept:
                            ctx.forget_upload(uploaded)
            finally:
                path.unlink(missing_ok=True)
                if memory is not None:  # what the stack held while this size went through
                    figures["stack_peak_rss_mib"] = round(memory.peak() / 1024**2, 1)
        if "parallel" in args.sections:
            path = work / "bench-parallel.bin"
            sha256 = files.make_file(path, args.parallel_size)
            try:
                size, counts = args.parallel_size, args.parallel
                result["parallel"], kept = parallel.uploads(ctx, path, size, counts)
                result["parallel_download"] = parallel.downloads(ctx, kept, size, sha256, counts)
            finally:
                path.unlink(missing_ok=True)
    finally:
        if memory is not None:
            memory.stop()
        if ctx.pinner is not None:
            ctx.pinner.unpin()
        stack.set_interrogation(True)
        ctx.close()
    return result


def run_backend(
    backend: str | None,
    args: argparse.Namespace,
    root: Path,
    placement: Placement | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    if args.endpoints is not None:
        stack = BenchStack.attach(args.endpoints)
    else:
        print(f"starting a stack on backend {backend}", file=sys.stderr, flush=True)
        stack = BenchStack.start(root / f"stack-{backend}" / "state", backend or "embedded")
    try:
        return bench_stack(stack, args, root / f"work-{stack.backend}", placement, result)
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    plot = None if args.no_plot else args.plot
    if args.report_only:
        try:
            results = json.loads(args.json.read_text())
        except (OSError, ValueError) as error:
            print(f"bench: cannot read {args.json}: {error}", file=sys.stderr)
            return 2
        report.write_all(results, args.json, args.markdown, plot)
        return 0
    if args.runs < 1 or args.concurrency < 1:
        print("bench: --runs and --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        ghga_bin("ghga-connector")
        placement = Placement.split() if args.pin else None
        if placement is not None:
            Pinner([], placement)  # taskset is there
    except (ToolMissing, PinningError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"conditions": conditions(args, placement), "backends": {}}
    failed = False
    backends = [None] if args.endpoints is not None else args.backends
    with tempfile.TemporaryDirectory(prefix="fs-bench-", dir=args.workdir) as tmp:
        for backend in backends:
            partial: dict[str, Any] = {}
            try:
                result = run_backend(backend, args, Path(tmp), placement, partial)
                results["backends"][result["backend"]] = result
            except (Exception, KeyboardInterrupt) as error:  # still write what was measured
                failed = True
                what = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{error}"
                print(f"bench: the {backend or 'attached'} run failed: {what}", file=sys.stderr)
                if os.environ.get("BENCH_DEBUG"):
                    traceback.print_exc()
                name = partial.get("backend") or backend or "attached"
                results["backends"][name] = {**partial, "error": what[:2000]}
                if isinstance(error, KeyboardInterrupt):
                    break
    results["conditions"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report.write_all(results, args.json, args.markdown, plot)
    print(f"bench: results in {args.json} and {args.markdown}", file=sys.stderr)
    return 1 if failed else 0
