"""Several files at once, both ways: N ``fs-connector upload`` processes of N files, then
N ``fs-connector download`` processes of N registered files, started together.

Total throughput is all bytes over the time from the first start to the last exit, so
it grows with N while the machine has room and stops growing when it is full. The files
for the downloads are the last run's uploads at the largest N: one IRS invocation each
(published, untimed), then registered by IFRS and staged before any download is timed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import download, irs, measure, tools
from bench.context import Context, Uploaded
from bench.measure import Sample


def _together(children: list[Any], what: str, sample: Sample) -> None:
    """Finish children started together; one point: time until the last one ends."""
    first = min(begin for _, begin, _ in children)
    results = [measure.finish(*child) for child in children]  # every one, then check
    for result in results:
        result.check(what)
    ends = [begin + r.seconds for (_, begin, _), r in zip(children, results, strict=True)]
    sample.add(
        max(ends) - first,
        max(r.peak_rss for r in results),
        sum(r.cpu_seconds for r in results),
    )


def uploads(
    ctx: Context, path: Path, size: int, counts: list[int]
) -> tuple[dict[str, Any], list[Uploaded]]:
    """Points per N; the uploads of the last run at the largest N (for the downloads)."""
    points: dict[str, Any] = {}
    kept: list[Uploaded] = []
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
            try:
                _together(started, "fs-connector upload", sample)
            finally:
                for work in works:
                    ctx.drop(work)
            done = [ctx.uploaded(box_id) for box_id, _ in boxes]
            if count == counts[-1] and number == ctx.runs:
                kept = done
            else:
                for uploaded in done:
                    ctx.forget_upload(uploaded)
        points[str(count)] = sample.to_json()
    return points, kept


def downloads(
    ctx: Context, kept: list[Uploaded], size: int, sha256: str, counts: list[int]
) -> dict[str, Any]:
    """Points per N: N processes, each downloading and decrypting a file of its own."""
    for number, upload in enumerate(kept, start=1):
        ctx.say(f"publishing parallel file {number}/{len(kept)} (one IRS invocation, untimed)")
        irs.invoke(ctx, upload, publish=True)
    ready = [download.prepare(ctx, upload) for upload in kept]
    points: dict[str, Any] = {}
    for count in counts:
        sample = Sample(size * count)
        for number in range(1, ctx.runs + 1):
            ctx.say(f"{count} parallel downloads of {size:,} B, run {number}/{ctx.runs}")
            outs = [ctx.scratch(f"pardown{count}") for _ in range(count)]
            works = [ctx.scratch(f"parstate{count}") for _ in range(count)]
            try:
                started = [
                    tools.fs_download_start(ctx.stack, ctx.user, wpat, out, work, ctx.transfer)
                    for (wpat, _), out, work in zip(ready, outs, works, strict=False)
                ]
                _together(started, "fs-connector download", sample)
                for upload, out in zip(kept, outs, strict=False):
                    download.check_output(out, upload.file_id, sha256, "parallel download")
            finally:
                for path in (*outs, *works):
                    ctx.drop(path)
        points[str(count)] = sample.to_json()
    return points
