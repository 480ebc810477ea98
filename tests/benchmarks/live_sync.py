"""Live sync (``import --follow``) from a source cluster with ``wal_level = logical``.

The source is a cluster of its own on this machine (the system's PostgreSQL, with fsync
on), holding the seed's table with ROWS completed rows; the
ledger is the benchmark's database.

Throughput: 8 threads, each on its own connection, change the expiry of random rows
(one UPDATE a transaction) for a few seconds: the source's own UPDATE rate is the
baseline. Then ``import --follow --until-idle`` (a process, its start-up included)
records that backlog: each change is an ``ExpiryChanged`` event. Value: changes
recorded per second.

Lag: a follower process runs ``import --follow`` while one connection commits RATE
changes/s, paced. Each event carries its source commit time (the source server's
clock) and its own timestamp (the follower's clock, when it planned the event; the
same machine's clock): lag is the difference. Baseline: the same paced UPDATEs'
own round trip, commit included.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import (
    fresh_database,
    hammer,
    latency_ms,
    paced,
    run_cli,
    start_cli,
)
from tests.integration.logical_source import (
    source_binaries,
    source_cluster,
    stored_position,
    wait_for,
)
from tests.seed_table import copy_rows, create_table, seed_row

NAME = "live_sync"
ROWS = 2_000
CLIENTS = 8
UPDATE_SECONDS = {"small": 2.0, "full": 6.0}
RATE = 200.0
LAG_SECONDS = {"small": 5.0, "full": 20.0}
SLOT = "export_ledger_export_logs"
_LAGS = """
SELECT notification_id, extract(epoch FROM (s -> 'timestamp' ->> '_data_')::timestamptz
    - (s -> 'source_commit' ->> 'committed_at')::timestamptz)
FROM (SELECT notification_id, convert_from(state, 'UTF8')::jsonb AS s FROM exportledger_events) e
WHERE s ? 'source_commit'
"""
_UPDATE = "UPDATE export_logs SET expires_at = expires_at + interval '1 second' WHERE id = %s"


def run(admin_url: str, scale: str) -> BenchResult:
    binaries = source_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server programs for the source cluster")
    with (
        source_cluster(binaries, durable=True) as server,
        fresh_database(admin_url, "bench_sync") as url,
    ):
        source = server.url()
        ids = _seed(source)
        follow = ["import", "--from", source, "--follow", "--until-idle", "--jobs", "1"]
        run_cli(follow, url)  # the initial import, in the slot's snapshot
        source_rate = _source_updates(source, ids, UPDATE_SECONDS[scale])
        backlog = source_rate.operations
        caught_up = run_cli(follow, url)
        applied = backlog / caught_up.seconds
        lag, own = _lag(url, source, ids, int(RATE * LAG_SECONDS[scale]))
    figures = [
        Figure(
            NAME, "changes recorded by the follow (process start-up included)", applied,
            "changes/s", f"the source's own UPDATE rate ({CLIENTS} clients)", source_rate.rate,
            targets=(Target("ratio", ">=", 0.3),),
        ),
        Figure(
            NAME, f"commit-to-recorded lag p99 at {RATE:.0f} changes/s", lag["p99_ms"], "ms",
            f"the source UPDATE's own round trip p99 at {RATE:.0f}/s", own["p99_ms"],
            targets=(Target("value", "<", 1000, "ms"),),
        ),
        Figure(
            NAME, f"commit-to-recorded lag p50 at {RATE:.0f} changes/s", lag["p50_ms"], "ms",
            f"the source UPDATE's own round trip p50 at {RATE:.0f}/s", own["p50_ms"],
        ),
    ]  # fmt: skip
    details = {
        "backlog_changes": backlog,
        "follow_seconds": caught_up.seconds,
        "source": source_rate.summary(),
        "lag": lag,
        "update_round_trip": own,
    }
    return BenchResult(figures, details)


def _seed(source: str) -> list[str]:
    rng = random.Random(11)
    now = datetime.now(UTC)
    rows = [seed_row(rng, now, "completed") for _ in range(ROWS)]
    with psycopg.connect(source) as conn:
        create_table(conn, "export_logs", indexes=False)
        copy_rows(conn, "export_logs", rows)
    return [str(row["id"]) for row in rows]


def _source_updates(source: str, ids: list[str], seconds: float) -> Any:
    @contextmanager
    def worker() -> Iterator[Callable[[], object]]:
        rng = random.Random()
        with psycopg.connect(source, autocommit=True) as conn:
            yield lambda: conn.execute(_UPDATE, (rng.choice(ids),), prepare=True)

    return hammer(CLIENTS, seconds, worker)


def _lag(url: str, source: str, ids: list[str], count: int) -> tuple[dict[str, float], ...]:
    before = _sync_events(url)
    follower = start_cli(["import", "--from", source, "--follow", "--jobs", "1"], url)
    round_trips: list[float] = []
    try:
        rng = random.Random(5)
        with psycopg.connect(source, autocommit=True) as conn:
            applied = _applied(url)  # wait for the follower to have started
            conn.execute(_UPDATE, (rng.choice(ids),))
            wait_for(lambda: _applied(url) > applied, "the follower to start")
            applied = _applied(url)
            before = _sync_events(url)
            for _ in paced(RATE, count):
                started = time.perf_counter()
                conn.execute(_UPDATE, (rng.choice(ids),), prepare=True)
                round_trips.append(time.perf_counter() - started)
        wait_for(
            lambda: (stored_position(url, SLOT) or {}).get("changes_applied", 0) >= applied + count,
            "the follower to record the paced changes",
        )
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    lags = [lag for position, lag in _lags(url) if position > before]
    return latency_ms(lags), latency_ms(round_trips)


def _applied(url: str) -> int:
    return int((stored_position(url, SLOT) or {}).get("changes_applied", 0))


def _sync_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM exportledger_events")
        found = row.fetchone()
    return int(found[0]) if found else 0


def _lags(url: str) -> list[tuple[int, float]]:
    """(position, seconds from the source's commit to the event's own time) of each
    event a follow recorded."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(_LAGS).fetchall()
    return [(int(p), float(lag)) for p, lag in rows]
