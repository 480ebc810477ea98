"""The event feed: ``GET /api/events`` read whole, page after page (1,000 CloudEvents a
page, following ``Link: rel=next``, one client), in events/s, against ``export-ledger
audit-export`` of the same log in the same run (lines/s, a subprocess, startup included).

The log is seeded through ``api.cli.demo.seed`` (full: about 200k events; small: about
20k), projected, sealed (so every event carries its leaf index and checkpoint size) and
analyzed, as autovacuum would have done by then: the page query relies on the planner
scanning the events in position order, which it does once it has the table's statistics.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.benchmarks.ledger import _audit_export, _seal
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import count_events, fresh_database, run_cli, seed_ledger
from tests.e2e.cluster_load import served

NAME = "events_feed"
EXPORTS = {"small": 5_000, "full": 50_000}  # about four events each
_NEXT = re.compile(r'<([^>]+)>; rel="next"')


def run(admin_url: str, scale: str) -> BenchResult:
    from api.wiring.signing import generate

    with fresh_database(admin_url, "bench_feed") as url:
        seed_ledger(url, EXPORTS[scale], users=20_000, rng=random.Random(11))
        run_cli(["rebuild"], url)
        _seal(url, generate())
        with psycopg.connect(url, autocommit=True) as conn:  # as autovacuum would, in time
            conn.execute("ANALYZE")
        details: dict[str, Any] = {"events": count_events(url)}
        details["audit_export"] = _audit_export(url)
        with tempfile.TemporaryDirectory() as data:
            details["feed"] = _feed(url, Path(data))
    return BenchResult(_figures(details), details)


def _feed(url: str, data: Path) -> dict[str, Any]:
    with served(url, data) as server:
        headers = server.headers("bench-auditor", admin=True)
        events = 0
        started = time.perf_counter()
        with httpx.Client(base_url=server.base, timeout=60) as client:
            target = "/api/events?after=0&limit=1000"
            while True:
                response = client.get(target, headers=headers)
                response.raise_for_status()
                lines = response.content.count(b"\n")
                if not lines:
                    break
                events += lines
                found = _NEXT.fullmatch(response.headers["link"])
                assert found is not None
                target = found[1]
        seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "events_per_second": events / seconds}


def _figures(details: dict[str, Any]) -> list[Figure]:
    feed, export = details["feed"], details["audit_export"]
    return [
        Figure(
            NAME,
            f"GET /api/events, {feed['events']:,} CloudEvents, pages of 1,000",
            feed["events_per_second"],
            "events/s",
            f"audit-export, {export['events']:,} lines",
            export["events_per_second"],
            targets=(Target("ratio", ">=", 0.5, "x"),),
        )
    ]
