"""Server time of the web console's pages against the API's JSON for the same data.

The ledger is seeded through the application (``api.cli.demo.seed``), the read table
rebuilt and the log sealed (so export pages carry a checked inclusion proof).
Full scale: 1,000,000 exports of 20,000 users; small: 250,000 of 5,000.

Each page is fetched sequentially, in-process (``TestClient``, no network), by a
signed-in user or admin, after warm-up requests; the figure is its p95 in ms.
Baseline: the API request that reads the same data, timed the same way:

- ``exports, user``: ``/ui/exports`` vs ``GET /api/exports?limit=25`` (median user).
- ``exports, status+date``: admin, ``status=completed`` and a two-day range, both.
- ``export page``: ``/ui/exports/{id}`` (state, timeline, proof check) vs
  ``GET /api/exports/{id}/history``.
- ``export as of``: ``/ui/exports/{id}?version=1`` vs ``GET /api/exports/{id}?version=1``.
- ``ledger page``: admin ``/ui/ledger`` (positions, checkpoint, counts by status) vs
  ``GET /readyz``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.wiring.auth import issue_token
from api.wiring.settings import Settings
from api.wiring.signing import generate
from projections.db.database import Database
from projections.tlog.sealer import Sealer
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.seeded import seeded_database
from tests.benchmarks.support import (
    checkpoint,
    latency_ms,
    percentile,
)

NAME = "console"
SCALES = {"small": (250_000, 5_000), "full": (1_000_000, 20_000)}
REQUESTS = 60
WARMUP = 5
SECRET = "benchmark-secret-" + "x" * 32
BOUND_MS = 100.0
BASELINES = {
    "exports, user": "GET /api/exports",
    "exports, status+date": "GET /api/exports, same filters",
    "export page": "GET /api/exports/{id}/history",
    "export as of": "GET /api/exports/{id}?version=1",
    "ledger page": "GET /readyz",
}


def run(admin_url: str, scale: str) -> BenchResult:
    exports, users = SCALES[scale]
    details: dict[str, Any] = {"exports": exports, "users": users, "requests": REQUESTS}
    with seeded_database(admin_url, "bench_console", exports, users) as (url, data):
        details["data_set"] = data.describe()
        details["seal_seconds"] = _seal(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        checkpoint(url)
        pairs = _pairs(url)
        with tempfile.TemporaryDirectory() as data_dir, _client(url, Path(data_dir)) as client:
            results = {name: _measure(client, pair) for name, pair in pairs.items()}
        details["results"] = results
    return BenchResult(_figures(results), details)


def _seal(url: str) -> float:
    started = time.perf_counter()
    with Database(url).projector() as conn:
        Sealer(Database(url), generate(), batch_size=50_000).catch_up(conn)
    return time.perf_counter() - started


def _pairs(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        user, export_id = conn.execute(
            "SELECT user_id, max(export_id) FROM export_logs GROUP BY user_id "
            "ORDER BY count(*), user_id "
            "OFFSET (SELECT count(DISTINCT user_id) / 2 FROM export_logs) LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        day = conn.execute('SELECT max("timestamp")::date - 1 FROM export_logs').fetchone()[0]  # type: ignore[index]
    dates = f"date_from={day}&date_to={day + timedelta(days=1)}"
    api_dates = f"date_from={day}T00:00:00Z&date_to={day + timedelta(days=1)}T23:59:59.999999Z"
    return {
        "exports, user": {
            "user": user,
            "page": "/ui/exports",
            "api": "/api/exports?limit=25",
        },
        "exports, status+date": {
            "user": "admin",
            "page": f"/ui/exports?status=completed&{dates}",
            "api": f"/api/exports?status=completed&{api_dates}&limit=25",
        },
        "export page": {
            "user": user,
            "page": f"/ui/exports/{export_id}",
            "api": f"/api/exports/{export_id}/history",
        },
        "export as of": {
            "user": user,
            "page": f"/ui/exports/{export_id}?version=1",
            "api": f"/api/exports/{export_id}?version=1",
        },
        "ledger page": {"user": "admin", "page": "/ui/ledger", "api": "/readyz"},
    }


class _client:
    """A TestClient on the app (no projector, no migrations), tokens for everyone."""

    def __init__(self, url: str, data_dir: Path) -> None:
        settings = Settings(database_url=url, jwt_secret=SECRET, data_dir=data_dir)  # type: ignore[arg-type]
        self.client = TestClient(create_app(settings, run_projector=False, run_migrations=False))

    def __enter__(self) -> TestClient:
        self.client.__enter__()
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)


def _measure(client: TestClient, pair: dict[str, Any]) -> dict[str, Any]:
    user = pair["user"]
    token = issue_token(SECRET, user, admin=user == "admin")
    headers = {"Authorization": f"Bearer {token}"}
    cookies = {"export_ledger_session": token}
    return {
        "page": _timed(client, pair["page"], {}, cookies),
        "api": _timed(client, pair["api"], headers, {}),
        "urls": {"page": pair["page"], "api": pair["api"]},
    }


def _timed(
    client: TestClient, path: str, headers: dict[str, str], cookies: dict[str, str]
) -> dict[str, float]:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value, path="/ui")
    seconds = []
    for n in range(WARMUP + REQUESTS):
        started = time.perf_counter()
        response = client.get(path, headers=headers, follow_redirects=False)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        if n >= WARMUP:
            seconds.append(elapsed)
    return latency_ms(seconds) | {"p95_ms": percentile(seconds, 0.95) * 1000}


def _figures(results: dict[str, Any]) -> list[Figure]:
    return [
        Figure(
            benchmark=NAME,
            name=f"{name}: page p95",
            value=result["page"]["p95_ms"],
            unit="ms",
            baseline=f"API p95 ({BASELINES[name]})",
            baseline_value=result["api"]["p95_ms"],
            targets=(Target("value", "<", BOUND_MS, "ms"),),
        )
        for name, result in results.items()
    ]
