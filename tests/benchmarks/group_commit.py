"""Group commit: 32 concurrent callers through ExportLedger(group_commit=True),
against the one-command-per-transaction path and raw single-row INSERT
transactions from 32 connections, in the same run.

32 caller threads for 8 s (small: 2 s), running the same command mix
as ``commands`` (request, start, complete in turn: two of the three load the
export first), on a ledger with group commit and a pool of 2 connections.
Baselines in the same run: the same mix with one command per transaction (a
pool of 32 connections), and one ~200-byte INSERT per autocommit transaction
from 32 connections. The figures are commands/s and p99 latency.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from api.wiring.database import ledger_env
from domain.ledger.application import ExportLedger
from tests.benchmarks.commands import _raw_insert
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import Throughput, checkpoint, fresh_database, hammer
from tests.benchmarks.workload import RAW_TABLE_DDL, lifecycles

NAME = "group_commit"
CALLERS = 32
SECONDS = {"small": 2.0, "full": 8.0}


def run(admin_url: str, scale: str) -> BenchResult:
    seconds = SECONDS[scale]
    result = BenchResult()
    with fresh_database(admin_url, "bench_group_commit") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_TABLE_DDL)
        checkpoint(url)
        raw = hammer(CALLERS, seconds, _raw_insert(url))
        checkpoint(url)
        single = _commands(url, seconds, group_commit=False)
        checkpoint(url)
        grouped = _commands(url, seconds, group_commit=True)
    result.details = {
        "raw_insert": raw.summary(),
        "one_per_transaction": single.summary(),
        "group_commit": grouped.summary(),
    }
    label = f"{CALLERS} callers"
    result.figures = [
        Figure(
            NAME,
            f"group commit, commands/s, {label}",
            grouped.rate,
            "commands/s",
            f"one command per transaction, {label}",
            single.rate,
            targets=(Target("value", ">=", 5000, "commands/s"), Target("ratio", ">=", 4)),
        ),
        Figure(
            NAME,
            f"group commit, commands/s, {label}",
            grouped.rate,
            "commands/s",
            f"raw INSERT, {CALLERS} connections",
            raw.rate,
            "tx/s",
            targets=(Target("ratio", ">=", 0.5),),
        ),
        Figure(
            NAME,
            f"group commit, p99 latency, {label}",
            grouped.summary()["p99_ms"],
            "ms",
            f"one command per transaction, {label}",
            single.summary()["p99_ms"],
        ),
    ]
    return result


def _commands(url: str, seconds: float, *, group_commit: bool) -> Throughput:
    pool = 2 if group_commit else CALLERS
    env = ledger_env(url, pool_size=pool, lock_timeout_seconds=30)
    ledger = ExportLedger(env=env, group_commit=group_commit)
    try:

        @contextmanager
        def worker() -> Iterator[Callable[[], object]]:
            commands = lifecycles(ledger, random.Random())
            yield lambda: next(commands)

        return hammer(CALLERS, seconds, worker)
    finally:
        ledger.close()
