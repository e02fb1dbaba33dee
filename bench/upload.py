"""Upload: fs-connector vs GHGA's batch-upload vs boto3's transfer manager vs the CPU.

Every run uploads the same file into a fresh box (the clients skip or refuse an alias a
box already holds). The stack's own IRS is paused meanwhile, so nothing else competes
for the two cores; the inbox objects of GHGA's and the raw runs are removed afterwards,
those of fs-connector are kept for the interrogation benchmark.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from bench import cpu, measure, tools
from bench.context import Context, Uploaded
from bench.measure import Sample
from bench.report import CLIENTS
from shared.crypt.c4gh import SEGMENT_SIZE, encrypted_size


def plain_per_part(part_size: int) -> int:
    """Plaintext behind one part of ``part_size`` cipher bytes (whole segments)."""
    return max(1, part_size // (SEGMENT_SIZE + 28)) * SEGMENT_SIZE


def fs_once(ctx: Context, path: Path) -> tuple[measure.Measured, Uploaded]:
    box_id, wpat = ctx.stack.upload_wpat(ctx.user)
    work = ctx.scratch("fs-up")
    try:
        process, started, files = tools.fs_upload(
            ctx.stack, ctx.user, wpat, path, work, ctx.transfer
        )
        result = measure.finish(process, started, files).check("fs-connector upload")
    finally:
        ctx.drop(work)
    return result, ctx.uploaded(box_id)


def ghga_once(ctx: Context, path: Path) -> measure.Measured:
    box_id, wpat = ctx.stack.upload_wpat(ctx.user)
    work = ctx.scratch("ghga-up")
    try:
        result = tools.ghga_upload(ctx.stack, ctx.user, wpat, path, work, ctx.transfer)
    finally:
        ctx.drop(work)
    ctx.forget_upload(ctx.uploaded(box_id))
    return result


def raw_put_once(ctx: Context, path: Path, nbytes: int) -> measure.Measured:
    key = f"raw-{uuid.uuid4()}"
    result = raw(ctx, "put", path, key, nbytes)
    ctx.stack.delete_object(ctx.bench_bucket, key)
    return result


def raw(ctx: Context, action: str, path: Path, key: str, nbytes: int = 0, bucket: str = ""):
    argv = [
        tools.BIN / "python",
        "-m",
        "bench.raw",
        action,
        "--endpoints",
        ctx.endpoints_file,
        "--bucket",
        bucket or ctx.bench_bucket,
        "--key",
        key,
        "--file",
        path,
        "--size",
        nbytes,
        "--part-size",
        ctx.transfer.part_size,
        "--concurrency",
        ctx.transfer.concurrency,
    ]
    result = measure.run([str(a) for a in argv], cwd=tools.REPO).check(f"boto3 {action}")
    # the transfer's own time: interpreter start-up is not part of the ceiling
    result.seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    return result


def run(ctx: Context, path: Path, size: int) -> tuple[dict[str, Any], list[Uploaded]]:
    """Samples per client for one file size; the fs-connector uploads for IRS."""
    samples = {client: Sample(size) for client in CLIENTS}
    kept: list[Uploaded] = []
    encrypted = encrypted_size(size)
    for number in range(1, ctx.runs + 1):  # interleaved, so drift hits every client alike
        ctx.say(f"upload {size:,} B, run {number}/{ctx.runs}")
        result, uploaded = fs_once(ctx, path)
        samples["fs-connector"].measured(result)
        kept.append(uploaded)
        result = ghga_once(ctx, path)
        samples["ghga-connector"].measured(result)
        result = raw_put_once(ctx, path, encrypted)
        samples["boto3 (raw)"].measured(result)
        samples["cpu ceiling (1 core)"].add(
            cpu.upload_ceiling(size, plain_per_part(ctx.transfer.part_size))
        )
    return {name: sample.to_json() for name, sample in samples.items()}, kept


def parallel(ctx: Context, path: Path, size: int, counts: list[int]) -> dict[str, Any]:
    """Total throughput of n fs-connector uploads of ``size`` bytes started at once."""
    points: dict[str, Any] = {}
    for count in counts:
        sample = Sample(size * count)
        for number in range(1, ctx.runs + 1):
            ctx.say(f"{count} parallel uploads of {size:,} B, run {number}/{ctx.runs}")
            boxes = [ctx.stack.upload_wpat(ctx.user) for _ in range(count)]
            works = [ctx.scratch(f"par{count}") for _ in range(count)]
            started = [
                tools.fs_upload(ctx.stack, ctx.user, wpat, path, work, ctx.transfer)
                for (_, wpat), work in zip(boxes, works, strict=True)
            ]
            first = min(begin for _, begin, _ in started)
            results = [measure.finish(*child).check("fs-connector upload") for child in started]
            ends = [begin + r.seconds for (_, begin, _), r in zip(started, results, strict=True)]
            sample.add(
                max(ends) - first,
                max(r.peak_rss for r in results),
                sum(r.cpu_seconds for r in results),
            )
            for work in works:
                ctx.drop(work)
            for box_id, _ in boxes:
                ctx.forget_upload(ctx.uploaded(box_id))
        points[str(count)] = sample.to_json()
    return points
