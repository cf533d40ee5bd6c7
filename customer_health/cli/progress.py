"""Progress of a long step on stderr: a bar on a terminal, a log line per tenth otherwise (logs
and CI output stay short), nothing when quiet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from customer_health.cli.app import log, stderr

STEPS = 10  # log lines over a whole step when stderr is not a terminal

Advance = Callable[[int], None]  # called with how many items are done so far


@contextmanager
def progress(description: str, total: int, unit: str, quiet: bool) -> Iterator[Advance]:
    """Yield `advance(done)` for a step of `total` items of `unit`."""
    if quiet:
        yield lambda done: None
    elif stderr.is_terminal:
        with _bar(total, unit) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done: bar.update(task, completed=done)
    else:
        yield _log_lines(description, total, unit)


def _bar(total: int, unit: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr,
    )


def _log_lines(description: str, total: int, unit: str) -> Advance:
    """advance() that logs each time another tenth of the total is done."""
    logged = 0

    def advance(done: int) -> None:
        nonlocal logged
        tenth = STEPS * done // max(total, 1)
        if tenth > logged:
            logged = tenth
            log.info("%s: %s of %s %s (%d%%)", description, f"{done:,}", f"{total:,}", unit,
                     100 * done // max(total, 1))

    return advance
