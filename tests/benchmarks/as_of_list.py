"""The list as of a past moment (``GET /api/exports?as_of=T``) against the same
SQL run raw through a psycopg pool, in the same run.

The log is filled the honest way: ``api.cli.demo.seed`` through the application,
then ``export-ledger rebuild`` (which builds export_logs and
export_log_versions). Full scale: 250,000 exports of 5,000 users, about
1,000,000 events; small: 25,000 exports of 500 users, about 100,000.
T is the time of the median event, so about half the versions lie after it.

Queries (a page of 25 and its capped count, as ``ReadStore.page`` runs them):

- ``user page``: the token of the user with the median number of exports.
- ``admin page``: an admin token, no filter.
- ``admin completed``: an admin token, ``status=completed``.

API: ``GET /api/exports?as_of=T&limit=25`` through the application built by
``create_app`` (no projector), in-process with the ASGI test client, one
request at a time. Baseline: one transaction per operation on a
``psycopg_pool.ConnectionPool`` (1 connection, no prepared statements, as the
API): ``start_session``, then the as-of ``list_exports`` and ``count_exports``
of ``sql/queries/as_of.sql`` with the same parameters.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.http.app import create_app
from api.wiring.auth import issue_token
from api.wiring.settings import Settings
from projections.reads.read_store import TOTAL_CAP
from sql import query
from sql.names import ADMIN_ROLE, READER_ROLE
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import (
    checkpoint,
    count_events,
    fresh_database,
    latency_ms,
    run_cli,
    seed_ledger,
)

NAME = "as_of_list"
SCALES = {"small": (25_000, 500, 300), "full": (250_000, 5_000, 1000)}  # exports, users, runs
LIMIT = 25
WARMUP = 20
SECRET = "benchmark-secret-" + "y" * 32
P99_BOUND_MS = 50.0


def run(admin_url: str, scale: str) -> BenchResult:
    exports, users, runs = SCALES[scale]
    details: dict[str, Any] = {"exports": exports, "users": users, "runs_per_query": runs}
    with fresh_database(admin_url, "bench_as_of") as url:
        details["seed_seconds"] = seed_ledger(url, exports, users=users, rng=random.Random(exports))
        details["events"] = count_events(url)
        details["rebuild_seconds"] = run_cli(["rebuild"], url).seconds
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE export_logs")
            conn.execute("VACUUM ANALYZE export_log_versions")
        checkpoint(url)
        at, user = _moment_and_user(url)
        details.update(as_of=at.isoformat(), user=user, versions=_count_versions(url))
        queries = _queries(user)
        details["plans"] = {name: _plan(url, at, q) for name, q in queries.items()}
        results: dict[str, Any] = {}
        for name, q in queries.items():
            results[name] = {
                "api": _timed(_api_call(url, at, q), runs),
                "sql": _timed(_sql_call(url, at, q), runs),
            }
            api, raw = results[name]["api"], results[name]["sql"]
            print(
                f"  {name}: API p50 {api['p50_ms']:.2f} ms, p99 {api['p99_ms']:.2f} ms; "
                f"SQL p50 {raw['p50_ms']:.2f} ms, p99 {raw['p99_ms']:.2f} ms",
                flush=True,
            )
        details["results"] = results
    return BenchResult(_figures(details), details)


def _moment_and_user(url: str) -> tuple[datetime, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        (at,) = conn.execute(  # type: ignore[misc]
            "SELECT valid_from_time FROM export_log_versions ORDER BY valid_from "
            "OFFSET (SELECT count(*) / 2 FROM export_log_versions) LIMIT 1"
        ).fetchone()
        (user,) = conn.execute(  # type: ignore[misc]
            "SELECT user_id FROM (SELECT user_id, count(*) n FROM export_logs GROUP BY 1) t "
            "ORDER BY n, user_id OFFSET (SELECT count(DISTINCT user_id) / 2 FROM export_logs) "
            "LIMIT 1"
        ).fetchone()
    return at, user


def _count_versions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM export_log_versions").fetchone()
    return int(row[0]) if row else 0


def _queries(user: str) -> dict[str, dict[str, Any]]:
    return {
        "user page": {"user": user, "admin": False, "filters": {}},
        "admin page": {"user": "auditor", "admin": True, "filters": {}},
        "admin completed": {"user": "auditor", "admin": True, "filters": {"status": "completed"}},
    }


def _params(at: datetime, q: dict[str, Any]) -> dict[str, Any]:
    """What projections.reads.read_store._list_params gives for this query."""
    return {
        "user_id": None if q["admin"] else q["user"],
        "status": q["filters"].get("status"),
        "format": None,
        "date_from": None,
        "date_to": None,
        "after_ts": None,
        "after_id": None,
        "limit": LIMIT + 1,
        "offset": 0,
        "count_cap": TOTAL_CAP + 1,
        "as_of": at,
    }


def _plan(url: str, at: datetime, q: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE of the list query under the caller's role."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            query("api", "start_session"),
            {
                "role": ADMIN_ROLE if q["admin"] else READER_ROLE,
                "user_id": q["user"],
                "timeout": "10000",
            },
        )
        rows = conn.execute(
            ("EXPLAIN (ANALYZE, BUFFERS) " + query("as_of", "list_exports")).encode(),
            _params(at, q),
        ).fetchall()
    return "\n".join(r[0] for r in rows)


def _api_call(url: str, at: datetime, q: dict[str, Any]) -> Callable[[], Callable[[], None]]:
    def setup() -> Callable[[], None]:
        data_dir = Path(tempfile.mkdtemp(prefix="el-bench-as-of-"))
        settings = Settings(database_url=url, jwt_secret=SECRET, data_dir=data_dir)  # type: ignore[arg-type]
        client = TestClient(create_app(settings, run_projector=False, run_migrations=False))
        client.__enter__()
        token = issue_token(SECRET, q["user"], admin=q["admin"])
        params = {"as_of": at.isoformat(), "limit": LIMIT, **q["filters"]}
        headers = {"Authorization": f"Bearer {token}"}

        def call() -> None:
            response = client.get("/api/exports", params=params, headers=headers)
            if response.status_code != 200 or not response.json()["logs"]:
                raise RuntimeError(f"as-of list: {response.status_code} {response.text[:300]}")

        call.close = lambda: client.__exit__(None, None, None)  # type: ignore[attr-defined]
        return call

    return setup


def _sql_call(url: str, at: datetime, q: dict[str, Any]) -> Callable[[], Callable[[], None]]:
    def setup() -> Callable[[], None]:
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=1,
            kwargs={"options": "-c TimeZone=UTC", "prepare_threshold": None},
        )
        pool.wait()
        params = _params(at, q)
        role = ADMIN_ROLE if q["admin"] else READER_ROLE

        def call() -> None:
            with pool.connection() as conn, conn.transaction():
                session = {"role": role, "user_id": q["user"], "timeout": "10000"}
                conn.execute(query("api", "start_session"), session)
                cur = conn.cursor(row_factory=dict_row)
                rows = cur.execute(query("as_of", "list_exports"), params).fetchall()
                cur.execute(query("as_of", "count_exports"), params).fetchone()
            if not rows:
                raise RuntimeError(f"as-of SQL: {len(rows)} rows")

        call.close = pool.close  # type: ignore[attr-defined]
        return call

    return setup


def _timed(setup: Callable[[], Callable[[], None]], runs: int) -> dict[str, float]:
    call = setup()
    try:
        for _ in range(WARMUP):
            call()
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - started)
    finally:
        call.close()  # type: ignore[attr-defined]
    return latency_ms(seconds)


def _figures(details: dict[str, Any]) -> list[Figure]:
    events = details["events"]
    figures = []
    for name, result in details["results"].items():
        api, raw = result["api"], result["sql"]
        label = f"{name} as of T, {events:,} events"
        for stat in ("p50", "p99"):
            targets = (
                [Target("value", "<", P99_BOUND_MS, "ms")]
                if stat == "p99" and events >= 900_000
                else []
            )
            figures.append(
                Figure(
                    NAME,
                    f"{label}: {stat} latency (API)",
                    api[f"{stat}_ms"],
                    "ms",
                    f"same SQL, raw psycopg pool: {stat}",
                    raw[f"{stat}_ms"],
                    targets=targets,
                )
            )
    return figures
