"""The journey's walk with GHGA's own client, ghga-connector 4.x from .venv-ghga.

The same journey as fs-connector's (own box, own work packages, same files, same
checks of the archive and the event stream); only the client steps differ: GHGA's
``batch-upload``, ``download`` and ``decrypt``, run as a user would run them. When one
fails, the failure names the command and shows the tail of its output, redacted.
"""

from __future__ import annotations

import subprocess
import time

from testbed.ghga_client import output_tail, run_ghga
from testbed.journey_base import Journey, JourneyFailed

PART_SIZE = str(5 * 1024**2)  # the smallest part size, as fs-connector's walk uses
MAX_WAIT = "300"  # seconds GHGA's client waits for staging


def _ghga(journey: Journey, *args: str, stdin: str = "", expect: str = "", **settings: str) -> str:
    """Run ghga-connector; its stdout, or a failure with the tail of its output.

    ``expect``: what it prints when it succeeded; exiting 0 without it is a failure too.
    """
    secrets = []
    for key in ("upload_wpat", "download_wpat"):
        pasted = journey.facts.get(key, "")
        secrets += [pasted, pasted.partition(":")[2]]
    try:
        result = run_ghga(
            *args,
            wkvs_url=journey.endpoints["wkvs_url"],
            cwd=journey.workdir,
            stdin=stdin,
            timeout=900,
            executable=journey.facts.get("ghga_connector"),
            **settings,
        )
    except subprocess.TimeoutExpired as expired:
        raise JourneyFailed(f"`ghga-connector {args[0]}` did not finish in 900s") from expired
    if result.returncode != 0 or expect not in result.stdout:
        why = f"exited {result.returncode}" if result.returncode else f"did not print {expect!r}"
        raise JourneyFailed(
            f"`ghga-connector {args[0]}` {why}; the tail of its output:\n"
            + _indent(output_tail(result, secrets))
        )
    return result.stdout


def _indent(text: str) -> str:
    return "\n".join(f"      | {line}" for line in text.splitlines()) or "      | (no output)"


def _total_mib(journey: Journey) -> float:
    originals = journey.workdir / "originals"
    return sum((originals / alias).stat().st_size for alias in journey.facts["digests"]) / 1024**2


def _keys(journey: Journey, public: bool = True) -> list[str]:
    keys = ["--my-private-key-path", str(journey.workdir / "user.sec")]
    return ["--my-public-key-path", str(journey.workdir / "user.pub"), *keys] if public else keys


def upload_files(journey: Journey) -> str:
    originals = journey.workdir / "originals"
    tsv = journey.workdir / "files.tsv"
    tsv.write_text("".join(f"{originals / alias}\t{alias}\n" for alias in journey.facts["digests"]))
    started = time.monotonic()
    _ghga(
        journey,
        "batch-upload",
        "--tsv",
        str(tsv),
        *_keys(journey),
        stdin=journey.facts["upload_wpat"] + "\n",
        expect="All files uploaded successfully",
        part_size=PART_SIZE,
    )
    seconds = time.monotonic() - started
    journey.facts["upload_seconds"] = seconds
    return f"ghga-connector batch-upload: {_total_mib(journey):.1f} MiB in {seconds:.1f}s"


def download_files(journey: Journey) -> str:
    out = journey.workdir / "downloads-c4gh"
    out.mkdir()
    started = time.monotonic()
    _ghga(
        journey,
        "download",
        "--output-dir",
        str(out),
        *_keys(journey),
        stdin=journey.facts["download_wpat"] + "\n",
        part_size=PART_SIZE,
        max_wait_time=MAX_WAIT,
    )
    seconds = time.monotonic() - started
    missing = [a for a, f in journey.facts["file_ids"].items() if not (out / f"{f}.c4gh").exists()]
    if missing:
        found = sorted(p.name for p in out.iterdir())
        raise JourneyFailed(f"ghga-connector download wrote no .c4gh for {missing} ({found})")
    journey.facts["download_seconds"] = seconds
    return f"ghga-connector download: {_total_mib(journey):.1f} MiB in {seconds:.1f}s"


def decrypt_files(journey: Journey) -> str:
    out = journey.workdir / "downloads"
    started = time.monotonic()
    _ghga(
        journey,
        "decrypt",
        "--input-dir",
        str(journey.workdir / "downloads-c4gh"),
        "--output-dir",
        str(out),
        *_keys(journey, public=False),
    )
    seconds = time.monotonic() - started
    journey.facts["decrypt_seconds"] = seconds
    return f"ghga-connector decrypt: {_total_mib(journey):.1f} MiB in {seconds:.1f}s"


# fs-connector's step: GHGA's steps in its place (decrypt writes <file id> into downloads/,
# where fs-connector's --decrypt does, so the byte-for-byte check is the same step)
CLIENT_STEPS = {
    "upload with fs-connector": [("upload with ghga-connector", upload_files)],
    "download with fs-connector": [
        ("download with ghga-connector", download_files),
        ("decrypt with ghga-connector", decrypt_files),
    ],
}
