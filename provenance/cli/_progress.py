"""Progress bars on stderr for the long commands (commit, verify, diff, check), from the library's reports.

Drawn with ``rich.progress`` only when stderr is a terminal and ``-q`` was not given; a
pipe, a file or CI's log gets nothing. Each library stage (``provenance.progress``) is one
line: its name, a bar (a spinner while the total is unknown), done/total, the rate and the
time left. The bars are transient: when the command ends they are erased, and what stays on
screen is the command's own output. They are laid out one column narrower than the terminal,
so a bar line never reaches the last column (a terminal that wraps there would leave a copy
of every redrawn line behind).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from provenance.cli._app import quiet


def wanted() -> bool:
    """Whether to draw progress: stderr is a terminal and ``-q`` was not given."""
    return not quiet() and sys.stderr.isatty()


@contextlib.contextmanager
def progress_shown() -> Iterator[None]:
    """Draw the library's progress reports for the block (nothing when :func:`wanted` is false)."""
    if not wanted():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from provenance.progress import ProgressEvent, reporting

    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True, width=max(Console(stderr=True).width - 1, 20)),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def draw(event: ProgressEvent) -> None:
        if event.stage not in tasks:
            tasks[event.stage] = bars.add_task(event.stage, total=event.total, rate="")
        task = tasks[event.stage]
        speed = next(t.speed for t in bars.tasks if t.id == task) if event.done else None
        rate = f"{speed:,.0f} {event.unit}/s" if speed else ""
        if event.finished:  # a stage of unknown size that reported nothing still ends full, not at "0/1 0%"
            size = event.total or event.done or 1
            bars.update(task, completed=size, total=size, rate=rate)
            tasks.pop(event.stage)
        else:
            bars.update(task, completed=event.done, rate=rate)

    with bars, reporting(draw):
        yield
