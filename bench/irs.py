"""Interrogation: one IRS invocation per fs-connector upload, in a process of its own
(bench/irs_worker.py), against the CPU ceiling of decrypt + re-encrypt + checksums.

The invocation's CPU is its own (every thread, from the first message to the outcome; the
interpreter's start-up and imports are in ``process_cpu_s_per_gib``), set beside the
ceiling's one-core seconds, and split into where it went (bench/irs_cpu.py), per GiB.

Only the last run publishes its outcome, so that IFRS registers that one file for the
download benchmark; the others leave nothing behind (their staged objects are removed).
"""

from __future__ import annotations

import json
from typing import Any

from bench import cpu, irs_cpu, measure, tools
from bench.context import Context, Uploaded
from bench.measure import Sample
from bench.upload import plain_per_part


def invoke(ctx: Context, upload: Uploaded, publish: bool) -> tuple[measure.Measured, dict]:
    event_file = ctx.work / f"event-{upload.file_id}.json"
    event_file.write_text(json.dumps(upload.event))
    argv = [
        str(tools.BIN / "python"),
        "-m",
        "bench.irs_worker",
        "--endpoints",
        str(ctx.endpoints_file),
        "--event",
        str(event_file),
        "--size",
        str(upload.event["encrypted_size"]),
        *(["--publish"] if publish else []),
    ]
    result = measure.run(argv, cwd=tools.REPO).check("IRS invocation")
    event_file.unlink()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["state"] != "succeeded" or report["continuations"]:
        raise measure.BenchError(f"IRS did not finish in one invocation: {report}")
    result.seconds = report["seconds"]  # the invocation, not the interpreter's start-up
    report["process_cpu_seconds"] = result.cpu_seconds
    result.cpu_seconds = report["cpu_seconds"]
    return result, report


def run(ctx: Context, uploads: list[Uploaded], size: int) -> tuple[dict[str, Any], Uploaded]:
    """Samples for one size; the upload that was published (for the download)."""
    invocation, ceiling = Sample(size), Sample(size)
    gib = size / 1024**3
    process_cpu: list[float] = []
    breakdowns: list[dict[str, float]] = []
    for number, upload in enumerate(uploads, start=1):
        ctx.say(f"interrogation {size:,} B, run {number}/{len(uploads)}")
        publish = number == len(uploads)
        result, report = invoke(ctx, upload, publish)
        invocation.measured(result)
        invocation.extra["staged_parts"] = report["parts"]
        process_cpu.append(report["process_cpu_seconds"] / gib)
        breakdowns.append(report["cpu_breakdown"])
        if not publish:
            ctx.stack.delete_object(ctx.stack.bucket("staging"), report["staged_object_id"])
            ctx.forget_upload(upload)
        seconds, cpu_seconds = cpu.irs_ceiling_cpu(size, plain_per_part(upload.event["part_size"]))
        ceiling.add(seconds, cpu_seconds=cpu_seconds)
    invocation.extra["process_cpu_s_per_gib"] = {
        k: round(v, 1) for k, v in measure.spread(process_cpu).items()
    }
    invocation.extra["cpu_breakdown_s_per_gib"] = breakdown_per_gib(breakdowns, gib)
    return {"irs invocation": invocation.to_json(), "cpu ceiling (1 core)": ceiling.to_json()}, (
        uploads[-1]
    )


def breakdown_per_gib(runs: list[dict[str, float]], gib: float) -> dict[str, float]:
    """The median over the runs of each category's CPU seconds, per GiB."""
    return {
        category: round(measure.spread([run.get(category, 0.0) for run in runs])["median"] / gib, 2)
        for category in irs_cpu.CATEGORIES
    }
