"""Download: fs-connector (parallel ranges, verified, decrypted) vs GHGA's download +
decrypt vs boto3's download of the same object vs the CPU ceiling.

The file is the one the IRS benchmark published: registered by IFRS, then staged to the
outbox before any timing (the first DRS request asks for staging), so that every run
measures the transfer of the same object.
"""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from bench import cpu, files, measure, tools
from bench.context import Context, Uploaded
from bench.measure import BenchError, Sample
from bench.report import CLIENTS
from bench.tools import Transfer
from bench.upload import plain_per_part, raw
from bench.variants import SAME, Variant


def _outbox_object(drs: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) behind the DRS object's presigned URL (path-style)."""
    url = next(m["access_url"]["url"] for m in drs["access_methods"] if m["type"] == "s3")
    bucket, _, key = urllib.parse.urlsplit(url).path.lstrip("/").partition("/")
    return bucket, urllib.parse.unquote(key)


def check_output(directory: Path, file_id: str, sha256: str, who: str) -> None:
    """The decrypted file (named after the file id, plus any extension) is the original."""
    found = [p for p in directory.glob(f"{file_id}*") if not p.name.endswith((".c4gh", ".part"))]
    if len(found) != 1 or files.sha256_file(found[0]) != sha256:
        names = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
        raise BenchError(f"{who} did not produce the original file (found {names})")


def prepare(ctx: Context, upload: Uploaded) -> tuple[str, dict[str, Any]]:
    """Wait for registration and staging; (download WPAT, DRS object)."""
    ctx.say(f"waiting for {upload.file_id} to be registered and staged")
    ctx.events.wait_for("FileInternallyRegistered", upload.file_id, timeout=1800)
    wpat = ctx.stack.work_package(ctx.user, type="download", file_ids=[upload.file_id])
    return wpat, ctx.stack.wait_downloadable(ctx.user, wpat, upload.file_id, timeout=1800)


def fs_once(ctx: Context, wpat: str, file_id: str, sha256: str, t: Transfer) -> measure.Measured:
    out, work = ctx.scratch("fs-down"), ctx.scratch("fs-state")
    try:
        result = tools.fs_download(ctx.stack, ctx.user, wpat, out, work, t)
        check_output(out, file_id, sha256, "fs-connector download --decrypt")
    finally:
        ctx.drop(out)
        ctx.drop(work)
    return result


def ghga_once(ctx: Context, wpat: str, file_id: str, sha256: str, t: Transfer) -> measure.Measured:
    """Download, then decrypt: one figure (times and CPU added, the larger peak RSS)."""
    out, work = ctx.scratch("ghga-down"), ctx.scratch("ghga-state")
    try:
        fetched, decrypted = tools.ghga_download(ctx.stack, ctx.user, wpat, out, work, t)
        check_output(out / "plain", file_id, sha256, "ghga-connector download + decrypt")
    finally:
        ctx.drop(out)
        ctx.drop(work)
    return measure.Measured(
        fetched.seconds + decrypted.seconds,
        max(fetched.peak_rss, decrypted.peak_rss),
        0,
        fetched.cpu_seconds + decrypted.cpu_seconds,
        "",
        "",
    )


def raw_get_once(ctx: Context, bucket: str, key: str, t: Transfer) -> measure.Measured:
    target = ctx.work / f"raw-{uuid.uuid4().hex}"
    try:
        return raw(ctx, "get", target, key, bucket=bucket, transfer=t)
    finally:
        target.unlink(missing_ok=True)


def run(
    ctx: Context, upload: Uploaded, size: int, sha256: str, chosen: list[Variant] | None = None
) -> dict[str, Any]:
    """Samples per variant and client, interleaved run by run, of the one published file."""
    chosen = chosen or [Variant(SAME, ctx.transfer, CLIENTS)]
    wpat, drs = prepare(ctx, upload)
    bucket, key = _outbox_object(drs)
    samples = {v.key: {client: Sample(size) for client in v.clients} for v in chosen}
    file_id = upload.file_id
    for number in range(1, ctx.runs + 1):
        for variant in chosen:
            ctx.say(f"download {size:,} B, {variant.key}, run {number}/{ctx.runs}")
            t, got = variant.transfer, samples[variant.key]
            with ctx.placed(variant.pinned):
                for client in variant.clients:
                    if client == "fs-connector":
                        result = fs_once(ctx, wpat, file_id, sha256, t)
                    elif client == "ghga-connector":
                        result = ghga_once(ctx, wpat, file_id, sha256, t)
                    elif client == "boto3 (raw)":
                        result = raw_get_once(ctx, bucket, key, t)
                    else:
                        ceiling = cpu.download_ceiling(size, plain_per_part(ctx.transfer.part_size))
                        got[client].add(ceiling)
                        continue
                    got[client].measured(result)
    return {k: {c: sample.to_json() for c, sample in s.items()} for k, s in samples.items()}
