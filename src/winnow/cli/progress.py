"""The progress bar the long-running commands (export, import, evaluate --run) show on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def progress_bar(label: str, console: Console) -> Progress:
    """A bar on ``console``: ``label`` (a rich column format), bar, done/total, time left.

    It stays on screen when done (not transient), so a log of the run keeps it.
    """
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
