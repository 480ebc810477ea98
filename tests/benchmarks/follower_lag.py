"""Commit-to-visible latency with ``export-ledger project`` following the events.

Writer processes run paced commands (request, start, complete, one
transaction each; RATE in all); for every command, the time from the command
returning (its commit done) to a PositionWatcher in this process seeing the
read table's tracking position reach the command's event. Both ends read the
same system-wide monotonic clock. A command never seen counts as infinitely
late.

Baseline of the same run: a NOTIFY committed by a paced sender process,
received by a LISTENing connection here, at the same rate.

Next to the follower on 2 cores, one writer process reached about 300
commands/s and two reached 300-500/s in trial runs; the benchmark therefore
uses four writers, each paced at 125/s (500/s in all).
"""

from __future__ import annotations

import bisect
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from projections.db.database import Database
from projections.reads.positions import PositionWatcher
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import fresh_database, latency_ms, open_ledger, paced, start_cli
from tests.benchmarks.workload import lifecycles

NAME = "follower_lag"
RATE = 500.0  # commands (or notifications) per second, in all
WRITERS = 4  # processes: fewer do not keep up with RATE next to the follower on 2 cores
SECONDS = {"small": 5.0, "full": 20.0}
BASELINE_SECONDS = {"small": 3.0, "full": 10.0}
CHANNEL = "bench_ping"
Stamps = list[tuple[int, float]]  # (position, monotonic time)


def run(admin_url: str, scale: str) -> BenchResult:
    with fresh_database(admin_url, "bench_follower") as url:
        notify = _notify_latencies(url, int(RATE * BASELINE_SECONDS[scale]))
        ledger = _ledger_latencies(url, int(RATE * SECONDS[scale]))
    figures = [
        Figure(
            NAME,
            f"commit-to-visible {q}, {RATE:.0f} commands/s",
            ledger[f"{q}_ms"],
            "ms",
            f"NOTIFY round trip {q}, {RATE:.0f}/s",
            notify[f"{q}_ms"],
            targets=targets,
        )
        for q, targets in (("p50", ()), ("p99", (Target("value", "<", 50, "ms"),)))
    ]
    figures.append(
        Figure(
            NAME,
            f"achieved command rate ({WRITERS} paced writers)",
            ledger["achieved_rate"],
            "commands/s",
            "achieved NOTIFY rate (1 paced sender)",
            notify["achieved_rate"],
            "notifications/s",
            targets=(Target("ratio", ">=", 0.95),),
        )
    )
    return BenchResult(figures, {"ledger": ledger, "notify": notify})


def _ledger_latencies(url: str, count: int) -> dict[str, Any]:
    follower = start_cli(["project"], url)
    watcher = PositionWatcher(Database(url)).start()
    try:
        with _observed(lambda: watcher.position, watcher.wait_for) as seen:
            sent = _paced_writers(
                url, "ledger", count, lambda head: watcher.wait_for(head, 30), WRITERS
            )
            watcher.wait_for(max(p for p, _ in sent), timeout=10)
        return _latencies(sent, seen)
    finally:
        watcher.stop()
        follower.terminate()
        follower.wait(timeout=30)


def _notify_latencies(url: str, count: int) -> dict[str, Any]:
    received = _Received()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        stop = threading.Event()
        listener = threading.Thread(target=received.listen, args=(conn, stop), daemon=True)
        listener.start()
        with _observed(lambda: received.position, received.wait_for) as seen:
            sent = _paced_writers(url, "notify", count, lambda _: True, writers=1)
            received.wait_for(count, timeout=10)
        stop.set()
        listener.join()
    return _latencies(sent, seen)


class _Received:
    """The highest notification number received, with waits like PositionWatcher's."""

    def __init__(self) -> None:
        self.position = 0
        self.changed = threading.Condition()

    def listen(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        while not stop.is_set():
            for note in conn.notifies(timeout=0.2):
                with self.changed:
                    self.position = max(self.position, int(note.payload))
                    self.changed.notify_all()

    def wait_for(self, position: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.position >= position, timeout)


@contextmanager
def _observed(
    position: Callable[[], int], wait_for: Callable[[int, float], bool]
) -> Iterator[Stamps]:
    """Logs (position, time) each time ``position`` moves, until the block ends."""
    seen: Stamps = []
    stop = threading.Event()

    def observe() -> None:
        last = position()
        while not stop.is_set():
            if wait_for(last + 1, 0.05):
                last = position()
                seen.append((last, time.monotonic()))

    thread = threading.Thread(target=observe, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def _paced_writers(
    url: str, kind: str, count: int, ready: Callable[[int], object], writers: int
) -> Stamps:
    """Run ``count`` writes from ``writers`` processes, each paced at RATE/writers,
    none sharing a GIL with the receiving side; returns when each write returned.
    ``ready(head)`` is called once all have warmed up, with the last warm-up position."""
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(writers)]
    processes = [
        context.Process(target=_write, args=(url, kind, count // writers, RATE / writers, i, o))
        for i, o in zip(inboxes, [outbox] * writers, strict=True)
    ]
    for process in processes:
        process.start()
    try:
        ready(max(outbox.get(timeout=120) for _ in processes))
        for inbox in inboxes:
            inbox.put("go")
        deadline = count / RATE * 3 + 60
        stamps: Stamps = sorted(s for _ in processes for s in outbox.get(timeout=deadline))
    finally:
        for process in processes:
            process.join(timeout=30)
    return stamps


def _write(url: str, kind: str, count: int, rate: float, inbox: Any, outbox: Any) -> None:
    """A writer process: warm up, report, wait for "go", write paced, report times."""
    write, close = _ledger_write(url) if kind == "ledger" else _notify_write(url)
    try:
        head = 0
        for _ in range(30):
            head = write(0)
        outbox.put(head)
        inbox.get()
        stamps = []
        for i in paced(rate, count):
            stamps.append((write(i + 1), time.monotonic()))
        outbox.put(stamps)
    finally:
        close()


def _ledger_write(url: str) -> tuple[Callable[[int], int], Callable[[], None]]:
    ledger = open_ledger(url, pool_size=2)
    commands = lifecycles(ledger, random.Random())

    def write(_: int) -> int:
        position = next(commands).position
        assert position is not None
        return position

    return write, ledger.close


def _notify_write(url: str) -> tuple[Callable[[int], int], Callable[[], None]]:
    conn = psycopg.connect(url, autocommit=True)

    def write(i: int) -> int:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(i)))
        return i

    return write, conn.close


def _latencies(sent: Stamps, seen: Stamps) -> dict[str, Any]:
    """For each write, the first time a position at or past it was seen."""
    positions = [p for p, _ in seen]
    delays, missing = [], 0
    for position, at in sent:
        k = bisect.bisect_left(positions, position)
        if k == len(positions):
            missing += 1
            delays.append(float("inf"))
        else:
            delays.append(seen[k][1] - at)
    times = [at for _, at in sent]
    span = max(times) - min(times)
    return latency_ms(delays) | {
        "writes": len(sent),
        "achieved_rate": (len(sent) - 1) / span if span else float("nan"),
        "never_seen": missing,
    }
