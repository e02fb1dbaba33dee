"""Download the files of a work package, waiting while the archive stages them.

Files are asked for in order. A file that is not in the download area yet (202) is asked
for again after the Retry-After the archive names, for at most ``max_wait`` seconds after
its first 202, while the others go ahead. Without ``max_wait`` the wait scales with the
file's size (``staging_patience``): the archive copies a file to the download area at a
rate, so a 5 TiB file may take a day where a small one takes seconds. One file is
transferred at a time (its ranges in parallel). A refused token or an unreachable service
stops the batch; any other failure is the file's own, and the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from connector.api.dcs import DownloadClient, DrsObject, Staging
from connector.download.downloader import FileDownloader
from connector.download.paths import DownloadPaths, file_id_problem
from connector.errors import ConnectorError, NotAuthorized, TransferFailed, Unreachable
from connector.files import existing_problem
from connector.output import BatchResult, FileOutcome, report_outcome
from connector.progress import Reporter

STILL_WAITING_EVERY = 60.0  # seconds between "still waiting" messages
MIN_WAIT = 3600.0  # seconds: the least wait for staging without --max-wait
# bytes/s of staging the wait assumes: half the slowest copy rate DCS assumes (200 MiB/s,
# DCS_STAGING_COPY_BYTES_PER_S), so the wait covers about two such copies, e.g. one that
# DCS asked for again after its first request went unanswered
STAGING_RATE = 100 * 1024 * 1024


def staging_patience(size: int | None, max_wait: float | None) -> float:
    """Seconds to wait for a file to be staged: ``max_wait`` if the user set it, else an
    hour plus the file's copy at ``STAGING_RATE``."""
    if max_wait is not None:
        return max_wait
    return MIN_WAIT + (size or 0) / STAGING_RATE


def _seconds(value: float) -> str:
    return f"{value:g}s" if value < 10 else f"{value:.0f}s"


@dataclass
class _Waiting:
    started: float
    deadline: float
    next_check: float
    size: int | None


class BatchDownloader:
    def __init__(
        self,
        dcs: DownloadClient,
        files: FileDownloader,
        reporter: Reporter,
        *,
        output_dir: Path,
        decrypt: bool,
        overwrite: bool,
        max_wait: float | None,
        keep_encrypted: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._dcs, self._files, self._reporter = dcs, files, reporter
        self._output_dir, self._decrypt, self._overwrite = output_dir, decrypt, overwrite
        self._max_wait, self._clock, self._sleep = max_wait, clock, sleep
        self._plain_only = decrypt and not keep_encrypted
        self._waiting: dict[str, _Waiting] = {}

    async def run(self, wanted: dict[str, str]) -> BatchResult:
        """Download ``{file id: extension}``; one outcome per file."""
        result = BatchResult([])
        todo = self._prepare(wanted, result)
        last_note = self._clock()
        with self._reporter.progress():
            while todo:
                for file_id, paths in list(todo.items()):
                    state = self._waiting.get(file_id)
                    if state is not None and state.next_check > self._clock():
                        continue
                    try:
                        outcome = await self._attempt(file_id, paths)
                    except ConnectorError as error:
                        outcome = FileOutcome(file_id, "failed", error.message, file_id)
                        if isinstance(error, NotAuthorized | Unreachable):
                            result.fatal = error  # the others would fail the same way
                    if outcome is None:
                        continue
                    del todo[file_id]
                    result.outcomes.append(outcome)
                    if result.fatal is not None:
                        result.outcomes += [FileOutcome(f, "not attempted") for f in todo]
                        return result
                    report_outcome(outcome, self._reporter)
                if todo:
                    now = self._clock()
                    if now - last_note >= STILL_WAITING_EVERY:
                        self._reporter.info(
                            f"Still waiting for {len(todo)} file(s) to be staged by the archive."
                        )
                        last_note = now
                    wake = min(self._waiting[f].next_check for f in todo)
                    await self._sleep(max(0.0, wake - now))
        return result

    def _prepare(self, wanted: dict[str, str], result: BatchResult) -> dict[str, DownloadPaths]:
        todo: dict[str, DownloadPaths] = {}
        for file_id, extension in wanted.items():
            problem = file_id_problem(file_id)
            if problem:
                outcome = FileOutcome(file_id, "failed", f"cannot be saved: {problem}", file_id)
                result.outcomes.append(outcome)
                report_outcome(outcome, self._reporter)
                continue
            paths = DownloadPaths.of(self._output_dir, file_id, extension)
            if extension and paths.plain.name != file_id + extension:
                self._reporter.warn(f"{file_id}: the extension {extension!r} is not used.")
            done = paths.plain if self._plain_only else paths.encrypted  # what a run leaves
            paths.settle_interrupted_places()
            taken = [f"{p} {existing_problem(p)}" for p in paths.all() if existing_problem(p)]
            if taken:
                outcome = FileOutcome(
                    file_id, "failed", f"not written: {taken[0]} (never followed)", file_id
                )
            elif os.path.lexists(done) and not self._overwrite:
                outcome = FileOutcome(
                    file_id,
                    "skipped",
                    f"{done} exists; --overwrite downloads it again",
                    file_id,
                )
            elif self._decrypt and os.path.lexists(paths.plain) and not self._overwrite:
                outcome = FileOutcome(
                    file_id, "failed", f"{paths.plain} exists; --overwrite replaces it", file_id
                )
            else:
                todo[file_id] = paths
                continue
            result.outcomes.append(outcome)
            report_outcome(outcome, self._reporter)
        return todo

    async def _attempt(self, file_id: str, paths: DownloadPaths) -> FileOutcome | None:
        """Download the file if it is staged; None while it is being staged.

        At the first try the envelope is asked for alongside the DRS object (it does not
        depend on staging): most files are ready, and that saves a round trip per file.
        """
        envelope = None
        if file_id not in self._waiting:
            envelope = asyncio.create_task(self._dcs.envelope(file_id))
        try:
            answer = await self._dcs.drs_object(file_id)
        except BaseException:
            await _dropped(envelope)
            raise
        if isinstance(answer, Staging):
            await _dropped(envelope)
            self._wait(file_id, answer)
            return None
        size = answer.size
        return await self._files.download(
            file_id, paths, answer, lambda: self._ready(file_id, size), envelope
        )

    def _wait(self, file_id: str, answer: Staging) -> None:
        now = self._clock()
        state = self._waiting.get(file_id)
        if state is None:
            patience = staging_patience(answer.size, self._max_wait)
            state = _Waiting(now, now + patience, now, answer.size)
            self._waiting[file_id] = state
            self._reporter.info(
                f"{file_id}: the archive is preparing this file for download; waiting "
                f"(at most {_seconds(patience)}, --max-wait)."
            )
        elif state.size is None and answer.size is not None:  # the size came later
            state.size = answer.size
            state.deadline = state.started + staging_patience(answer.size, self._max_wait)
        if now >= state.deadline:
            raise TransferFailed(
                f"the archive did not make the file ready within "
                f"{_seconds(state.deadline - state.started)} (--max-wait); run the command "
                "again later"
            )
        state.next_check = min(now + answer.retry_after, state.deadline)

    async def _ready(self, file_id: str, size: int) -> DrsObject:
        """A fresh DRS object (a new presigned URL), waiting again if need be."""
        patience = staging_patience(size, self._max_wait)
        deadline = self._clock() + patience
        while True:
            answer = await self._dcs.drs_object(file_id)
            if isinstance(answer, DrsObject):
                return answer
            now = self._clock()
            if now >= deadline:
                raise TransferFailed(
                    f"the archive did not make the file ready again within {_seconds(patience)}"
                )
            await self._sleep(min(answer.retry_after, deadline - now))


async def _dropped(task: asyncio.Task | None) -> None:
    """Cancel a task whose result is not needed, and let it finish quietly."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
