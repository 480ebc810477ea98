"""The one loop of everything that works through the events in log order.

The follower (export_logs), the sealer (the Merkle tree) and the rebuild (a
shadow table) each do their work in batches, one transaction per batch, after
a tracking position. :func:`catch_up` repeats a batch until the log is used
up for now; :func:`follow` catches up, then waits for the events table's
notification, until stopped. Why reading in notification-id order never skips
an event that commits later: see projections/readmodel/follower.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from opentelemetry import trace

from projections.db.database import Database
from sql import statement
from sql.names import EVENTS_CHANNEL

_tracer = trace.get_tracer("export_ledger")

SAFETY_NET_SECONDS = 1.0
"""The longest wait for a notification: one lost on a dropped connection costs no more."""

Batch = Callable[[], int]
"""One transaction's work; returns how many events it took in."""


def catch_up(
    batch: Batch, *, last: Callable[[int], bool], stopping: threading.Event | None = None
) -> int:
    """Run ``batch`` until ``last`` says the batch of that many events was the
    last one for now (or ``stopping`` is set); returns the events taken in."""
    total = 0
    while stopping is None or not stopping.is_set():
        count = batch()
        total += count
        if last(count):
            break
    return total


def follow(
    db: Database,
    work: Callable[[psycopg.Connection[Any]], int],
    *,
    stopping: threading.Event,
    on_batch: Callable[[int], None],
    min_interval: float = 0.0,
    name: str = "batch",
) -> None:
    """Until ``stopping`` is set: ``work`` (a catch-up) on a projector connection, tell
    ``on_batch`` how many events it took in (when any), and when there were none
    wait for the next notification on the events channel.

    Writers notify the channel in the inserting transaction, delivered at
    commit, so a wait ends as soon as new events are there; the timeout is
    only a safety net. ``min_interval`` spaces out catch-ups that found work
    (the sealer signs a checkpoint per batch). A catch-up that took events in is a
    trace span ``name`` (when tracing is on; one that found none is not, or an idle
    loop would make a span a second)."""
    with (
        db.projector(autocommit=True) as listener,
        db.projector() as conn,
    ):
        listener.execute(statement("channels", "listen", channel=EVENTS_CHANNEL))
        while not stopping.is_set():
            started, began = time.monotonic(), time.time_ns()
            count = work(conn)
            if count:
                _span(name, began, count)
                on_batch(count)
                if min_interval > 0:
                    stopping.wait(min_interval - (time.monotonic() - started))
                continue
            for _ in listener.notifies(timeout=SAFETY_NET_SECONDS, stop_after=1):
                pass


def _span(name: str, began_ns: int, events: int) -> None:
    """A span of a catch-up that is over, with how many events it took in."""
    span = _tracer.start_span(name, start_time=began_ns, attributes={"ledger.events": events})
    span.end()
