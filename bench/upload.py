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
from bench.variants import SAME, Variant
from shared.crypt.c4gh import SEGMENT_SIZE, encrypted_size


def plain_per_part(part_size: int) -> int:
    """Plaintext behind one part of ``part_size`` cipher bytes (whole segments)."""
    return max(1, part_size // (SEGMENT_SIZE + 28)) * SEGMENT_SIZE


def fs_once(ctx: Context, path: Path, t: tools.Transfer) -> tuple[measure.Measured, Uploaded]:
    box_id, wpat = ctx.stack.upload_wpat(ctx.user)
    work = ctx.scratch("fs-up")
    try:
        process, started, files = tools.fs_upload(ctx.stack, ctx.user, wpat, path, work, t)
        result = measure.finish(process, started, files).check("fs-connector upload")
    finally:
        ctx.drop(work)
    return result, ctx.uploaded(box_id)


def ghga_once(ctx: Context, path: Path, t: tools.Transfer) -> measure.Measured:
    box_id, wpat = ctx.stack.upload_wpat(ctx.user)
    work = ctx.scratch("ghga-up")
    try:
        result = tools.ghga_upload(ctx.stack, ctx.user, wpat, path, work, t)
    finally:
        ctx.drop(work)
    ctx.forget_upload(ctx.uploaded(box_id))
    return result


def raw_put_once(ctx: Context, path: Path, nbytes: int, t: tools.Transfer) -> measure.Measured:
    key = f"raw-{uuid.uuid4()}"
    result = raw(ctx, "put", path, key, nbytes, transfer=t)
    ctx.stack.delete_object(ctx.bench_bucket, key)
    return result


def raw(
    ctx: Context,
    action: str,
    path: Path,
    key: str,
    nbytes: int = 0,
    bucket: str = "",
    transfer: tools.Transfer | None = None,
) -> measure.Measured:
    t = transfer or ctx.transfer
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
        t.part_size or ctx.transfer.part_size,
        "--concurrency",
        t.concurrency or ctx.transfer.concurrency,
    ]
    result = measure.run(t.argv([str(a) for a in argv]), cwd=tools.REPO).check(f"boto3 {action}")
    # the transfer's own time: interpreter start-up is not part of the ceiling
    result.seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    return result


def run(
    ctx: Context, path: Path, size: int, chosen: list[Variant] | None = None
) -> tuple[dict[str, Any], list[Uploaded]]:
    """Samples per variant and client for one file size, interleaved run by run (so drift
    hits every client and placement alike); the first variant's fs-connector uploads,
    kept for IRS."""
    chosen = chosen or [Variant(SAME, ctx.transfer, CLIENTS)]
    samples = {v.key: {client: Sample(size) for client in v.clients} for v in chosen}
    kept: list[Uploaded] = []
    encrypted = encrypted_size(size)
    for number in range(1, ctx.runs + 1):
        for variant in chosen:
            ctx.say(f"upload {size:,} B, {variant.key}, run {number}/{ctx.runs}")
            t, got = variant.transfer, samples[variant.key]
            with ctx.placed(variant.pinned):
                for client in variant.clients:
                    if client == "fs-connector":
                        result, uploaded = fs_once(ctx, path, t)
                        if variant is chosen[0]:
                            kept.append(uploaded)
                        else:
                            ctx.forget_upload(uploaded)
                    elif client == "ghga-connector":
                        result = ghga_once(ctx, path, t)
                    elif client == "boto3 (raw)":
                        result = raw_put_once(ctx, path, encrypted, t)
                    else:
                        ceiling = cpu.upload_ceiling(size, plain_per_part(ctx.transfer.part_size))
                        got[client].add(ceiling)
                        continue
                    got[client].measured(result)
    by_variant = {k: {c: sample.to_json() for c, sample in s.items()} for k, s in samples.items()}
    return by_variant, kept
