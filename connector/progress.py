"""What the user sees while work goes on: messages and one progress bar per file.

Everything goes to stderr, so stdout stays clean for results (``ls --json``). With
``quiet`` only errors are printed, for scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Reporter:
    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._progress: Progress | None = None

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(escape(message))

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]{escape(message)}[/yellow]")

    def error(self, message: str) -> None:
        self.console.print(f"[red]{escape(message)}[/red]")

    @contextmanager
    def progress(self) -> Iterator[None]:
        """Keep one live display for a batch (bars of finished files stay visible)."""
        if self.quiet:
            yield
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        try:
            with self._progress:
                yield
        finally:
            self._progress = None

    def bar(self, name: str, total: int) -> Callable[[int], None]:
        """A new bar; returns the function that advances it by n bytes."""
        if self._progress is None:
            return lambda n: None
        progress = self._progress
        task = progress.add_task(escape(name), total=total)
        return lambda n: progress.advance(task, n)
