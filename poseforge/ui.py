"""Terminal output: tables and progress bars (rich), readable in a terminal and in CI logs."""

from __future__ import annotations

import errno
import sys
from typing import Any

LOG_WIDTH = 160  # rich would wrap tables at 80 columns when stdout is not a terminal


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; the CLI ends a run whose reader has gone its own way (exit 141)
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "the reader of the output has gone")

    stream = sys.stderr if stderr else sys.stdout
    return _Console(file=stream, width=None if stream.isatty() else LOG_WIDTH)


def progress(transient: bool = False) -> Any:
    """A progress bar with rate and ETA, drawn on stderr so that stdout stays machine-readable."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=transient,
    )
