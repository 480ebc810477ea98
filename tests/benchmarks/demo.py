"""``export-ledger demo --exports N`` as a subprocess against a fresh database.

Baselines of the same run: a raw batched INSERT (executemany, one transaction
per batch) of as many event-sized rows as the demo wrote, in batches as large
as the demo's transactions; and, for memory, the same command seeding 1% as
many exports.
"""

from __future__ import annotations

import random
import time

import psycopg

from tests.benchmarks.report import BenchResult, Figure
from tests.benchmarks.support import checkpoint, count_events, fresh_database, run_cli, scalar
from tests.benchmarks.workload import EVENT_INSERT, EVENT_TABLE_DDL, event_batches

NAME = "demo"
EXPORTS = {"small": 10_000, "full": 100_000}
EXPORTS_PER_TRANSACTION = 100  # api.cli.demo.seed's default batch size


def run(admin_url: str, scale: str) -> BenchResult:
    exports = EXPORTS[scale]
    with fresh_database(admin_url, "bench_demo", migrated=False) as url:
        big = run_cli(["demo", "--exports", str(exports)], url)
        events = count_events(url)
        state_bytes = int(scalar(url, "SELECT avg(octet_length(state)) FROM exportledger_events"))
        per_transaction = round(events / -(-exports // EXPORTS_PER_TRANSACTION))
        insert_seconds = _batched_insert(url, events, per_transaction, state_bytes)
    with fresh_database(admin_url, "bench_demo_small", migrated=False) as url:
        small = run_cli(["demo", "--exports", str(exports // 100)], url)
    details = {
        "exports": exports,
        "events": events,
        "wall_seconds": big.seconds,
        "events_per_second": events / big.seconds,
        "peak_rss_mb": big.peak_rss_mb,
        "avg_state_bytes": state_bytes,
        "events_per_transaction": per_transaction,
        "baseline_insert_seconds": insert_seconds,
        "small_run": {
            "exports": exports // 100,
            "seconds": small.seconds,
            "peak_rss_mb": small.peak_rss_mb,
        },
    }
    insert = f"raw batched INSERT, {events:,} rows of {state_bytes} B, {per_transaction}/tx"
    figures = [
        Figure(
            NAME,
            f"wall time, {exports:,} exports ({events:,} events)",
            big.seconds,
            "s",
            insert,
            insert_seconds,
        ),
        Figure(
            NAME,
            "events/s",
            events / big.seconds,
            "events/s",
            insert,
            events / insert_seconds,
            "rows/s",
        ),
        Figure(
            NAME,
            f"peak RSS, {exports:,} exports",
            big.peak_rss_mb,
            "MB",
            f"same command, {exports // 100:,} exports",
            small.peak_rss_mb,
        ),
    ]
    return BenchResult(figures, details)


def _batched_insert(url: str, rows: int, per_transaction: int, state_bytes: int) -> float:
    batches = event_batches(rows, per_transaction, state_bytes, random.Random(7))
    with psycopg.connect(url) as conn:
        conn.execute(EVENT_TABLE_DDL)
        conn.commit()
        checkpoint(url)
        started = time.perf_counter()
        for batch in batches:
            with conn.cursor() as cur:
                cur.executemany(EVENT_INSERT, batch)
            conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_events")
        conn.commit()
    return seconds
