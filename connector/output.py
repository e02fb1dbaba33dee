"""How results are shown: upload states in words, the box listing, per-file outcomes and
the batch summary (shared by upload, download and decrypt)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from connector.api.ucs import UploadInfo
from connector.errors import ConnectorError, ExitCode
from connector.progress import Reporter

STATE_WORDS = {
    "init": "uploading",
    "inbox": "inbox",
    "interrogated": "accepted",
    "failed": "rejected",
    "cancelled": "cancelled",
    "registered": "registered",
    "deleted": "deleted",
}


def status_word(info: UploadInfo) -> str:
    return STATE_WORDS.get(info.state, info.state)


def state_words(info: UploadInfo) -> str:
    """The state as users say it (``rejected: <reason>`` for a failed interrogation)."""
    words = status_word(info)
    if info.state == "failed" and info.state_reason:
        words += f": {info.state_reason}"
    return words


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def listing_json(infos: list[UploadInfo]) -> str:
    """The listing for scripts: UCS's fields plus ``status`` in words."""
    return json.dumps([{**asdict(info), "status": status_word(info)} for info in infos], indent=2)


def listing_table(infos: list[UploadInfo]) -> list[str]:
    """Aligned plain-text lines (no wrapping, so they stay greppable in logs)."""
    rows = [("ALIAS", "FILE ID", "SIZE", "STATE")] + [
        (i.alias, i.id, human_size(i.decrypted_size), state_words(i)) for i in infos
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file of a batch (upload, download or decryption)."""

    alias: str  # the name the user knows the file by
    status: str  # uploaded | resumed | downloaded | decrypted | skipped | failed | not attempted
    detail: str = ""
    file_id: str | None = None


@dataclass
class BatchResult:
    outcomes: list[FileOutcome]
    fatal: ConnectorError | None = None

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "not attempted")]


def report_outcome(outcome: FileOutcome, reporter: Reporter) -> None:
    """One line per finished file: ``name: status (detail)``; failures in red."""
    text = f"{outcome.alias}: {outcome.status}" + (f" ({outcome.detail})" if outcome.detail else "")
    (reporter.error if outcome.status == "failed" else reporter.info)(text)


def summarize(result: BatchResult, reporter: Reporter) -> int:
    """Print the batch's summary; return the exit code it deserves."""
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    if result.fatal is not None:
        reporter.error(result.fatal.message)
        reporter.error(f"Stopped: {summary}.")
        return result.fatal.exit_code
    if result.failed:
        reporter.error(f"Done with failures: {summary}.")
        return ExitCode.FAILED
    reporter.info(f"Done: {summary}.")
    return ExitCode.OK
