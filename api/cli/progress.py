"""Progress reporting for long commands: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

_PLAIN_EVERY_SECONDS = 5.0


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


class Advance:
    """Callable ``advance(n)``; ``set_total(n)`` once the total is known."""

    def __init__(self, step: Callable[[int], None], total: Callable[[int], None]) -> None:
        self._step, self._total = step, total

    def __call__(self, n: int) -> None:
        self._step(n)

    def set_total(self, total: int) -> None:
        self._total(total)


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Advance]:
    """Yields an :class:`Advance`; shows rate and ETA."""
    if not sys.stderr.isatty():
        with _plain_lines(label, total) as advance:
            yield advance
        return
    columns = (
        TextColumn("{task.description}", markup=False),  # labels hold file names
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total)
        yield Advance(lambda n: progress.advance(task, n), lambda t: progress.update(task, total=t))


@contextmanager
def _plain_lines(label: str, total: int | None) -> Iterator[Advance]:
    started = last = time.monotonic()
    done = 0
    expected = total

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= _PLAIN_EVERY_SECONDS:
            last = now
            print(_plain_line(label, done, expected, now - started), file=sys.stderr, flush=True)

    def set_total(value: int) -> None:
        nonlocal expected
        expected = value

    yield Advance(advance, set_total)
    elapsed = time.monotonic() - started
    print(f"{label}: {done} done in {elapsed:.1f} s", file=sys.stderr, flush=True)


def _plain_line(label: str, done: int, total: int | None, elapsed: float) -> str:
    """``label: 1,200/5,000 (24%, 300/s, about 13 s left)``: the bar's facts as text."""
    rate = done / max(elapsed, 1e-9)
    if not total:
        return f"{label}: {done:,} ({rate:,.0f}/s)"
    left = f", about {(total - done) / rate:,.0f} s left" if rate and done < total else ""
    return f"{label}: {done:,}/{total:,} ({done / total:.0%}, {rate:,.0f}/s{left})"
