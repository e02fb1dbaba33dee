"""The journey's report: the walks side by side, one column per client.

Steps and their times, throughput, the staging events seen per file and the
byte-for-byte check, so that fs-connector and GHGA's client can be compared at a
glance, and a failed walk shows where it stopped and why.
"""

from __future__ import annotations

from collections.abc import Sequence

from testbed.journey_base import Journey

STAGING = ("NonStagedFileRequested", "FileStagedForDownload", "FileDownloadServed")


def _row_key(journey: Journey, step_name: str) -> str:
    """Steps that differ only in the client they name share a row."""
    return step_name.replace(journey.client, "the client")


def _step_cell(journey: Journey, step_name: str) -> str:
    held = {step.name: step for step in journey.steps}
    if step_name in held:
        return f"{held[step_name].seconds:.2f}s"
    return "FAILED" if step_name == journey.failed_step else "not run"


def _rate_cell(journey: Journey, what: str, mib: float) -> str:
    seconds = journey.facts.get(f"{what}_seconds")
    return f"{seconds:.1f}s = {mib / seconds:.1f} MiB/s" if seconds else "—"


def _file_cell(journey: Journey, alias: str) -> str:
    seen = journey.facts.get("staging", {}).get(alias)
    events = "/".join(str(n) for n in seen) if seen else "-/-/-"
    identical = journey.facts.get("identical", {}).get(alias)
    check = {True: "identical", False: "DIFFERS", None: "unchecked"}[identical]
    return f"{events} {check}"


def print_report(
    walks: Sequence[tuple[Journey, Sequence[str]]], file_sizes: dict[str, int], seconds: float
) -> int:
    """Print the report of the walks (each with the names of all its steps); the exit code."""
    journeys = [journey for journey, _ in walks]
    cells: dict[str, dict[str, str]] = {}  # row key: client: cell
    order: list[str] = []  # a walk's own step slots in after the step before it
    for journey, names in walks:
        previous = -1
        for name in names:
            key = _row_key(journey, name)
            if key not in cells:
                order.insert(previous + 1, key)
            previous = order.index(key)
            cells.setdefault(key, {})[journey.client] = _step_cell(journey, name)
    rows = {key: cells[key] for key in order}
    held = ", ".join(f"{j.client} {len(j.steps)}/{len(n)} steps held" for j, n in walks)
    rates = (
        ("upload", "upload"),
        ("download", "download (fs-connector decrypts meanwhile)"),
        ("decrypt", "decrypt"),
    )
    labels = [
        *rows,
        *(label for _, label in rates),
        *(f"{a} ({s:,} B)" for a, s in file_sizes.items()),
    ]
    width = max(len(label) for label in labels)
    cols = [max(len(j.client), 24) for j in journeys]

    def line(label: str, cells: Sequence[str]) -> str:
        padded = (cell.rjust(w + 2) for cell, w in zip(cells, cols, strict=True))
        return "  " + label.ljust(width) + "".join(padded)

    print(f"\nReport: {held}, {seconds:.1f}s in all")
    print(line("step", [j.client for j in journeys]))
    for key, cells in rows.items():
        print(line(key, [cells.get(j.client, "—") for j in journeys]))
    mib = sum(file_sizes.values()) / 1024**2
    print(f"\n  throughput, {len(file_sizes)} files, {mib:.1f} MiB")
    for what, label in rates:
        print(line(label, [_rate_cell(j, what, mib) for j in journeys]))
    print("\n  per file: " + "/".join(STAGING) + " seen, and the byte-for-byte check")
    for alias, size in file_sizes.items():
        print(line(f"{alias} ({size:,} B)", [_file_cell(j, alias) for j in journeys]))
    failed = [j for j in journeys if j.failed_step]
    for journey in failed:
        print(f"\n{journey.client} FAILED at step '{journey.failed_step}': {journey.failure}")
    if failed:
        names = ", ".join(f"{j.client} at '{j.failed_step}'" for j in failed)
        print(f"\nJOURNEY FAILED: {names}", flush=True)
        return 1
    print("JOURNEY OK", flush=True)
    return 0
