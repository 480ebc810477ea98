"""``export-ledger rebuild`` at about 250k and 1M events, as a subprocess.

The ledger is seeded through ``api.cli.demo.seed`` (users=20000) to the small
point, rebuilt, seeded on to the large point, rebuilt again. At each point
the rebuild runs twice: first with a live table that lags the events (empty,
or from the previous point), then with one that matches them (the usual
case). The rate targets apply to the second run, the memory targets to the
higher peak of the two. Rates are the command's own report (events folded /
seconds inside ``rebuild()``); peak RSS is of the process (VmHWM).

Baselines of the same run: COPY of as many rows as there are events into a
fresh ``export_ledger_create_read_table`` table (no secondary indexes), and
the library's ``ProjectionRunner`` on a separate ~20,000-event ledger.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import psycopg

from tests.benchmarks import library_runner
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import (
    checkpoint,
    count_events,
    fresh_database,
    run_cli,
    seed_ledger,
)
from tests.benchmarks.workload import COPY_COLUMNS, export_log_copy_chunks

NAME = "rebuild"
USERS = 20_000
# Exports seeded to reach each point (about four events per export).
EXPORTS = {"small": (5_000, 25_000), "full": (62_500, 250_000)}
SAMPLE_EXPORTS = {"small": 1_000, "full": 5_000}
FLAT = 1.2  # "flat": peak RSS at the large point within 20% of the small point's
_REPORT = re.compile(r"([\d,]+) events folded into ([\d,]+) rows in [\d.]+ s \(([\d,]+) events/s\)")


def run(admin_url: str, scale: str) -> BenchResult:
    details: dict[str, Any] = {}
    with fresh_database(admin_url, "bench_rebuild") as url:
        seeded = 0
        for label, exports in zip(("small", "large"), EXPORTS[scale], strict=True):
            seed_seconds = seed_ledger(
                url, exports - seeded, users=USERS, rng=random.Random(exports)
            )
            seeded = exports
            events = count_events(url)
            details[label] = {
                "exports": exports,
                "events": events,
                "seed_seconds": seed_seconds,
                "rebuild_live_table_lagging": _rebuild(url),
                "rebuild_live_table_matching": _rebuild(url),
                "rebuild_history": _rebuild(url, "--history"),
                "copy": _copy_baseline(url, events),
            }
    with fresh_database(admin_url, "bench_rebuild_sample") as url:
        seed_ledger(url, SAMPLE_EXPORTS[scale], users=USERS, rng=random.Random(1))
        events = count_events(url)
        seconds = library_runner.time_to_project(url, head=events)
        details["projection_runner"] = {
            "events": events,
            "seconds": seconds,
            "events_per_second": events / seconds,
        }
    return BenchResult(_figures(details), details)


def _rebuild(url: str, *options: str) -> dict[str, Any]:
    checkpoint(url)
    run = run_cli(["rebuild", *options], url)
    found = _REPORT.search(run.stdout)
    if not found:
        raise RuntimeError(f"unexpected rebuild output: {run.stdout!r}")
    events, rows, rate = (int(g.replace(",", "")) for g in found.groups())
    return {
        "events": events,
        "rows": rows,
        "events_per_second": rate,
        "process_seconds": run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
    }


def _copy_baseline(url: str, rows: int) -> dict[str, Any]:
    chunks = export_log_copy_chunks(rows, random.Random(rows))
    with psycopg.connect(url) as conn:
        conn.execute("SELECT export_ledger_create_read_table('bench_copy_x')")
        conn.commit()
        checkpoint(url)
        started = time.perf_counter()
        statement = f"COPY bench_copy_x ({COPY_COLUMNS}) FROM STDIN"
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in chunks:
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy_x")
        conn.commit()
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def _figures(details: dict[str, Any]) -> list[Figure]:
    small, large = details["small"], details["large"]
    runner = details["projection_runner"]
    figures = []
    for point, target in ((small, ()), (large, (Target("value", ">=", 100_000, "events/s"),))):
        rebuild = point["rebuild_live_table_matching"]
        figures.append(
            Figure(
                NAME,
                f"rebuild, {point['events']:,} events",
                rebuild["events_per_second"],
                "events/s",
                f"COPY of {point['copy']['rows']:,} rows",
                point["copy"]["rows_per_second"],
                "rows/s",
                (Target("ratio", ">=", 0.5), *target),
            )
        )
    lagging = large["rebuild_live_table_lagging"]
    figures.append(
        Figure(
            NAME,
            f"rebuild, {large['events']:,} events, live table lagging",
            lagging["events_per_second"],
            "events/s",
            f"COPY of {large['copy']['rows']:,} rows",
            large["copy"]["rows_per_second"],
            "rows/s",
        )
    )
    history = large["rebuild_history"]
    figures.append(
        Figure(
            NAME,
            f"rebuild --history, {large['events']:,} events",
            history["events_per_second"],
            "events/s",
            f"COPY of {large['copy']['rows']:,} rows",
            large["copy"]["rows_per_second"],
            "rows/s",
        )
    )
    rebuild = large["rebuild_live_table_matching"]
    figures.append(
        Figure(
            NAME,
            f"rebuild, {large['events']:,} events",
            rebuild["events_per_second"],
            "events/s",
            f"library ProjectionRunner, {runner['events']:,} events",
            runner["events_per_second"],
            targets=(Target("ratio", ">=", 75),),
        )
    )
    figures.append(
        Figure(
            NAME,
            f"rebuild peak RSS, {large['events']:,} events",
            _peak_rss(large),
            "MB",
            f"rebuild peak RSS, {small['events']:,} events",
            _peak_rss(small),
            targets=(Target("value", "<", 300, "MB"), Target("ratio", "<=", FLAT)),
        )
    )
    return figures


def _peak_rss(point: dict[str, Any]) -> float:
    """The higher peak RSS of the two rebuilds at one point."""
    runs = ("rebuild_live_table_lagging", "rebuild_live_table_matching", "rebuild_history")
    return max(float(point[run]["peak_rss_mb"]) for run in runs)
