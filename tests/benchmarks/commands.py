"""Commands per second through ExportLedger vs raw single-row INSERTs, 1 and 8 threads.

Each command (request, start, complete, in turn) is one transaction through
``ExportLedger``, for 8 s (small: 2 s) per thread count; the figures are the rate and
the p50/p99 latency. The baseline is one ~200-byte INSERT per autocommit
transaction into a plain table, on the same server, from as many connections
as threads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from tests.benchmarks.report import BenchResult, Figure
from tests.benchmarks.support import (
    Throughput,
    Worker,
    checkpoint,
    fresh_database,
    hammer,
    open_ledger,
)
from tests.benchmarks.workload import RAW_INSERT, RAW_TABLE_DDL, lifecycles, payload

NAME = "commands"
THREADS = (1, 8)
SECONDS = {"small": 2.0, "full": 8.0}


def run(admin_url: str, scale: str) -> BenchResult:
    seconds = SECONDS[scale]
    result = BenchResult()
    with fresh_database(admin_url, "bench_commands") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_TABLE_DDL)
        for threads in THREADS:
            checkpoint(url)
            raw = hammer(threads, seconds, _raw_insert(url))
            checkpoint(url)
            app = _ledger_commands(url, threads, seconds)
            result.details[f"{threads}_threads"] = {
                "raw_insert": raw.summary(),
                "ledger_commands": app.summary(),
            }
            result.figures.extend(_figures(threads, app, raw))
    return result


def _raw_insert(url: str) -> Worker:
    @contextmanager
    def worker() -> Iterator[Callable[[], object]]:
        row = (payload(200, random.Random()),)
        with psycopg.connect(url, autocommit=True) as conn:
            yield lambda: conn.execute(RAW_INSERT, row)

    return worker


def _ledger_commands(url: str, threads: int, seconds: float) -> Throughput:
    ledger = open_ledger(url, pool_size=threads + 1)
    try:

        @contextmanager
        def worker() -> Iterator[Callable[[], object]]:
            commands = lifecycles(ledger, random.Random())
            yield lambda: next(commands)

        return hammer(threads, seconds, worker)
    finally:
        ledger.close()


def _figures(threads: int, app: Throughput, raw: Throughput) -> list[Figure]:
    label = f"{threads} thread{'s' if threads > 1 else ''}"
    baseline = f"raw INSERT, {label.replace('thread', 'connection')}"
    app_ms, raw_ms = app.summary(), raw.summary()
    return [
        Figure(NAME, f"commands/s, {label}", app.rate, "commands/s", baseline, raw.rate, "tx/s"),
        Figure(NAME, f"p50 latency, {label}", app_ms["p50_ms"], "ms", baseline, raw_ms["p50_ms"]),
        Figure(NAME, f"p99 latency, {label}", app_ms["p99_ms"], "ms", baseline, raw_ms["p99_ms"]),
    ]
