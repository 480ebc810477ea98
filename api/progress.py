"""Progress reporting for long commands: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
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

_PLAIN_EVERY_SECONDS = 5.0


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; shows rate and ETA."""
    if not sys.stderr.isatty():
        with _plain_lines(label, total) as advance:
            yield advance
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.speed:>9.0f}/s" if total else ""),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def _plain_lines(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    started = last = time.monotonic()
    done = 0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= _PLAIN_EVERY_SECONDS:
            last = now
            rate = done / max(now - started, 1e-9)
            of = f"/{total}" if total else ""
            print(f"{label}: {done}{of} ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    yield advance
    elapsed = time.monotonic() - started
    print(f"{label}: {done} done in {elapsed:.1f} s", file=sys.stderr, flush=True)
