"""The sealed ledger: ``verify`` throughput, inclusion-proof latency, audit-export rate and memory.

The log is seeded through ``api.cli.demo.seed`` to two points (full: about 100k
and 1M events; small: about 4k and 20k), projected (``rebuild``) and sealed.
At each point:

- ``verify`` (in-process, both passes) in events/s, against a plain binary
  server-side ``SELECT`` scan of the same events in the same run;
- one inclusion proof (stored nodes, ``fetch_nodes`` + ``inclusion_path``, against
  the latest checkpoint) for random leaves, p50/p99 in ms, against a
  primary-key lookup of one stored event;
- at the large point, ``export-ledger audit-export`` of the whole log as a
  subprocess: events/s and peak RSS (VmHWM), against the plain scan's rate.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from api.wiring.signing import generate
from domain.tlog import merkle
from projections.audit.verify import verify
from projections.db.database import Database
from projections.tlog.checkpoints import latest_checkpoint
from projections.tlog.sealer import Sealer, fetch_nodes
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import (
    checkpoint,
    count_events,
    fresh_database,
    latency_ms,
    run_cli,
    seed_ledger,
)

NAME = "ledger"
USERS = 20_000
EXPORTS = {"small": (1_000, 5_000), "full": (25_000, 250_000)}  # about four events each
PROOFS = {"small": 200, "full": 2_000}


def run(admin_url: str, scale: str) -> BenchResult:
    details: dict[str, Any] = {}
    signer = generate()  # one key for the run: the registered key signs every checkpoint
    with fresh_database(admin_url, "bench_ledger") as url:
        seeded = 0
        for label, exports in zip(("small", "large"), EXPORTS[scale], strict=True):
            seed_ledger(url, exports - seeded, users=USERS, rng=random.Random(exports))
            seeded = exports
            run_cli(["rebuild"], url)
            _seal(url, signer)
            checkpoint(url)
            point: dict[str, Any] = {"events": count_events(url)}
            point["scan"] = _scan(url)
            point["verify"] = _verify(url)
            point["proof_ms"] = _proofs(url, PROOFS[scale])
            point["lookup_ms"] = _lookups(url, PROOFS[scale])
            details[label] = point
        details["large"]["audit_export"] = _audit_export(url)
    return BenchResult(_figures(details), details)


def _seal(url: str, signer: Any) -> None:
    sealer = Sealer(Database(url), signer, batch_size=50_000)
    with Database(url).projector() as conn:
        sealer.catch_up(conn)


def _scan(url: str) -> dict[str, float]:
    """Read every stored event once, as verify's log pass does, doing nothing with it."""
    with psycopg.connect(url) as conn, conn.cursor(name="scan", binary=True) as cur:
        started = time.perf_counter()
        cur.itersize = 10_000
        cur.execute(
            "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
            "FROM exportledger_events ORDER BY notification_id"
        )
        rows = sum(1 for _ in cur)
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "events_per_second": rows / seconds}


def _verify(url: str) -> dict[str, Any]:
    report = verify(Database(url))
    if not report.ok:
        raise RuntimeError(f"verify found problems: {report.problems.sorted()[:3]}")
    return {
        "events": report.events,
        "seconds": report.seconds,
        "events_per_second": report.events_per_second,
    }


def _proofs(url: str, count: int) -> dict[str, float]:
    rng = random.Random(count)
    timings = []
    with psycopg.connect(url, autocommit=True) as conn:
        signed = latest_checkpoint(conn)
        assert signed is not None
        size = signed.tree_size
        for _ in range(count):
            index = rng.randrange(size)
            started = time.perf_counter()
            found = fetch_nodes(conn, merkle.nodes_needed(merkle.inclusion_ranges(index, size)))
            path = merkle.inclusion_path(index, size, lambda lv, i, f=found: f[lv, i])
            timings.append(time.perf_counter() - started)
            leaf = found.get((0, index)) or fetch_nodes(conn, [(0, index)])[0, index]
            assert merkle.verify_inclusion(leaf, index, size, path, signed.root)
    return latency_ms(timings)


def _lookups(url: str, count: int) -> dict[str, float]:
    rng = random.Random(count + 1)
    timings = []
    with psycopg.connect(url, autocommit=True) as conn:
        last = int(
            conn.execute("SELECT max(notification_id) FROM exportledger_events").fetchone()[0]
        )  # type: ignore[index]
        for _ in range(count):
            position = rng.randrange(1, last + 1)
            started = time.perf_counter()
            conn.execute(
                "SELECT state FROM exportledger_events WHERE notification_id = %s", (position,)
            ).fetchone()
            timings.append(time.perf_counter() - started)
    return latency_ms(timings)


def _audit_export(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.jsonl"
        run = run_cli(["audit-export", "--output", str(output)], url)
        size = output.stat().st_size
        with output.open("rb") as file:
            lines = sum(1 for _ in file)
    return {
        "events": lines,
        "seconds": run.seconds,
        "events_per_second": lines / run.seconds,
        "peak_rss_mb": run.peak_rss_mb,
        "bytes": size,
    }


def _figures(details: dict[str, Any]) -> list[Figure]:
    figures = []
    for label in ("small", "large"):
        point = details[label]
        events = point["events"]
        large = label == "large"
        figures.append(
            Figure(
                NAME,
                f"verify, {events:,} events",
                point["verify"]["events_per_second"],
                "events/s",
                f"plain SELECT scan of {events:,} events",
                point["scan"]["events_per_second"],
                targets=(Target("value", ">=", 100_000, "events/s"),) if large else (),
            )
        )
        for q in ("p50", "p99"):
            figures.append(
                Figure(
                    NAME,
                    f"inclusion proof {q}, {events:,} leaves",
                    point["proof_ms"][f"{q}_ms"],
                    "ms",
                    f"primary-key lookup of one event, {q}",
                    point["lookup_ms"][f"{q}_ms"],
                    targets=(Target("value", "<", 10, "ms"),) if large else (),
                )
            )
    export, scan = details["large"]["audit_export"], details["large"]["scan"]
    figures.append(
        Figure(
            NAME,
            f"audit-export, {export['events']:,} events",
            export["events_per_second"],
            "events/s",
            "plain SELECT scan",
            scan["events_per_second"],
        )
    )
    figures.append(
        Figure(
            NAME,
            f"audit-export peak RSS, {export['events']:,} events",
            export["peak_rss_mb"],
            "MB",
            "none",
            float("nan"),
            targets=(Target("value", "<", 200, "MB"),),
        )
    )
    return figures
