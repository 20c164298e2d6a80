"""Terminal output: tables and progress bars (rich), readable in a terminal and in CI logs."""

from __future__ import annotations

import sys
from typing import Any

LOG_WIDTH = 160  # rich would wrap tables at 80 columns when stdout is not a terminal


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else LOG_WIDTH)


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
