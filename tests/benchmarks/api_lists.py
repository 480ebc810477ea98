"""List queries through the HTTP API (wrk against ``export-ledger serve``) against
the same SQL through a psycopg pool, at 1 and 32 clients, in the same run.

The read table is filled the honest way: ``api.cli.demo.seed`` through the
application, then ``export-ledger rebuild``. Full scale: 1,000,000 exports of
about 20,000 users; small: 250,000 exports of 5,000 users (about 50 each).

Queries (each as the API runs it: list page of 25 + count, in one transaction
that takes on the reader or admin role and sets the session's user):

- ``user first page``: a user's own token, no filter.
- ``status+date``: admin token, ``status=completed`` and a date range over the
  middle half of the seeded timestamps.
- ``admin first page``: admin token, no filter (the reference for the deep page).
- ``admin deep page``: admin token, a keyset cursor 90% of the way down the table.

Tokens come from ``export-ledger token`` (``--user`` for the per-user list,
``--admin`` for the others). The deep page's cursor is built as
``projections.reads.read_store.encode_cursor`` builds it, from the row 90% of the way down the
table in list order.

API: ``wrk -t1 -c1 -d10s --timeout 10s --latency -H 'Authorization: Bearer
TOKEN' URL``, then the same with ``-t2 -c32``, against one
``export-ledger serve --no-projector`` (a single uvicorn worker process with
the API's default read pool of 4 connections). The figures are wrk's
Requests/sec and its 99% latency; any non-2xx response or socket error fails
the benchmark. wrk, PostgreSQL and the SQL baseline's Python client all share
the machine's cores.

Baseline: the same statements with the same parameters on a
``psycopg_pool.ConnectionPool`` (pool size = clients, no prepared statements,
as the API) on 1 and 32 threads. Each operation is one transaction:
``start_session`` (takes on the reader or admin role, sets the
user), ``list_exports`` (limit 26) and ``count_exports`` (counts up to
10,001), which is what ``ReadStore.page`` runs per request.

"Deep pages as fast as the first" is checked as the deep page's API req/s
against the admin first page's, at least 0.9x. At 32 clients the API's p99 is
held to at most 2x the same SQL's p99 on the pool: an earlier bound of 25 ms
was missed by the SQL alone (about 58-78 ms at 32 clients, queueing for 2
cores), so it said nothing of the API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from projections.reads.read_store import TOTAL_CAP, encode_cursor
from sql import query
from sql.names import ADMIN_ROLE, READER_ROLE
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.seeded import seeded_database
from tests.benchmarks.support import (
    cli_command,
    cli_env,
    hammer,
    scalar,
)

NAME = "api_lists"
SCALES = {"small": (250_000, 5_000), "full": (1_000_000, 20_000)}
DURATION = int(os.environ.get("API_LISTS_SECONDS", "10"))
CLIENTS = (1, 32)
LIMIT = 25
SECRET = "benchmark-secret-" + "x" * 32
_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or socket errors responses:\s+(\d+)|Socket errors:.*")


def run(admin_url: str, scale: str) -> BenchResult:
    exports, users = SCALES[scale]
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    details: dict[str, Any] = {"exports": exports, "users": users, "seconds_per_run": DURATION}
    with seeded_database(admin_url, "bench_api_lists", exports, users) as (url, data):
        details["data_set"] = data.describe()
        details["rows"] = int(scalar(url, "SELECT count(*) FROM export_logs"))
        queries = _queries(url)
        details["queries"] = {name: q["query"] for name, q in queries.items()}
        port = _free_port()
        with _serve(url, port):
            tokens = {
                "user": _token(url, queries["user first page"]["principal"], admin=False),
                "admin": _token(url, "admin", admin=True),
            }
            base = f"http://127.0.0.1:{port}/api/exports"
            for q in queries.values():
                q["url"] = base + ("?" + urllib.parse.urlencode(q["query"]) if q["query"] else "")
                _check(q["url"], tokens[q["token"]])
            results: dict[str, Any] = {}
            for name, q in queries.items():
                for clients in CLIENTS:
                    key = f"{name}, {clients} client{'s' if clients > 1 else ''}"
                    results[key] = {
                        "api": _wrk(q["url"], tokens[q["token"]], clients),
                        "sql": _sql(url, q, clients),
                    }
                    print(
                        f"  {key}: API {results[key]['api']['rate']:,.0f}/s "
                        f"p99 {results[key]['api']['p99_ms']:.1f} ms; SQL "
                        f"{results[key]['sql']['rate']:,.0f}/s "
                        f"p99 {results[key]['sql']['p99_ms']:.1f} ms",
                        flush=True,
                    )
        details["results"] = results
    return BenchResult(_figures(details), details)


# -- data -----------------------------------------------------------------------


def _queries(url: str) -> dict[str, dict[str, Any]]:
    """The four queries: their API query string and the SQL parameters it leads to."""
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as conn:
        # A user with the median number of exports.
        (user,) = conn.execute(
            "SELECT user_id FROM (SELECT user_id, count(*) n FROM export_logs GROUP BY 1) t "
            "ORDER BY n, user_id OFFSET (SELECT count(DISTINCT user_id) / 2 FROM export_logs) "
            "LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        low, high = conn.execute(
            'SELECT min("timestamp"), max("timestamp") FROM export_logs'
        ).fetchone()  # type: ignore[misc]
        total = int(conn.execute("SELECT count(*) FROM export_logs").fetchone()[0])  # type: ignore[index]
        deep = conn.execute(
            'SELECT "timestamp", export_id FROM export_logs '
            'ORDER BY "timestamp" DESC, export_id DESC OFFSET %s LIMIT 1',
            (int(total * 0.9),),
        ).fetchone()
    assert deep is not None
    span = high - low
    date_from, date_to = low + span / 4, high - span / 4
    cursor = encode_cursor({"timestamp": deep[0], "export_id": deep[1]})
    return {
        "user first page": {
            "principal": user,
            "admin": False,
            "token": "user",
            "query": {"limit": LIMIT},
            "params": _params(user_id=user),
        },
        "status+date": {
            "principal": "admin",
            "admin": True,
            "token": "admin",
            "query": {
                "status": "completed",
                "date_from": date_from.isoformat(),
                "date_to": date_to.isoformat(),
                "limit": LIMIT,
            },
            "params": _params(status="completed", date_from=date_from, date_to=date_to),
        },
        "admin first page": {
            "principal": "admin",
            "admin": True,
            "token": "admin",
            "query": {"limit": LIMIT},
            "params": _params(),
        },
        "admin deep page": {
            "principal": "admin",
            "admin": True,
            "token": "admin",
            "query": {"limit": LIMIT, "cursor": cursor},
            "params": _params(after_ts=deep[0], after_id=deep[1]),
        },
    }


def _params(
    user_id: str | None = None,
    status: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    after_ts: datetime | None = None,
    after_id: str | None = None,
) -> dict[str, Any]:
    """The parameters projections.reads.read_store._list_params gives for these filters."""
    return {
        "user_id": user_id,
        "status": status,
        "format": None,
        "date_from": date_from,
        "date_to": date_to,
        "after_ts": after_ts,
        "after_id": after_id,
        "limit": LIMIT + 1,
        "offset": 0,
        "count_cap": TOTAL_CAP + 1,
    }


# -- the API under wrk --------------------------------------------------------------


def _env(url: str) -> dict[str, str]:
    return cli_env(url) | {"EXPORT_LEDGER_JWT_SECRET": SECRET}


@contextmanager
def _serve(url: str, port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [*cli_command(), "serve", "--no-projector", "--port", str(port)],
        stdout=log,
        stderr=log,
        env=_env(url) | (env or {}),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"serve exited {proc.returncode}: {log.read().decode()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not become ready in 60 s")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _token(url: str, user: str, *, admin: bool) -> str:
    args = [*cli_command(), "token", "--user", user, "--ttl", "1h"] + (["--admin"] if admin else [])
    out = subprocess.run(args, env=_env(url), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _check(target: str, token: str) -> None:
    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    if len(body["logs"]) != LIMIT:
        raise RuntimeError(f"{target}: {len(body['logs'])} rows, expected {LIMIT}")


def _wrk(target: str, token: str, clients: int) -> dict[str, Any]:
    threads = min(clients, 2)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{DURATION}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        target,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = _WRK_ERRORS.search(out)
    rate, p99 = _WRK_RATE.search(out), _WRK_P99.search(out)
    if errors or not rate or not p99:
        raise RuntimeError(f"wrk: errors or unexpected output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return {
        "rate": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "command": f"wrk -t{threads} -c{clients} -d{DURATION}s --timeout 10s --latency "
        "-H 'Authorization: Bearer TOKEN' URL",
    }


# -- the same SQL through a psycopg pool ----------------------------------------------


def _sql(url: str, q: dict[str, Any], clients: int) -> dict[str, Any]:
    role = ADMIN_ROLE if q["admin"] else READER_ROLE
    start_session, listing, counting = (
        query("api", "start_session"),
        query("api", "list_exports"),
        query("api", "count_exports"),
    )
    params, principal = q["params"], q["principal"] if not q["admin"] else "admin"
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
        url,
        connection_class=psycopg.Connection[dict[str, Any]],
        min_size=clients,
        max_size=clients,
        kwargs={"options": "-c TimeZone=UTC", "prepare_threshold": None, "row_factory": dict_row},
    )
    pool.wait()

    def operation() -> None:
        with pool.connection() as conn, conn.transaction():
            conn.execute(start_session, {"role": role, "user_id": principal, "timeout": "10000"})
            listed = conn.execute(listing, params)
            counted = conn.execute(counting, params)
            rows = listed.fetchall()
            counted.fetchone()
        assert len(rows) == LIMIT + 1

    @contextmanager
    def worker() -> Iterator[Callable[[], object]]:
        yield operation

    try:
        result = hammer(clients, DURATION, worker, warmup_ops=5)
    finally:
        pool.close()
    summary = result.summary()
    return {"rate": summary["rate"], "p99_ms": summary["p99_ms"], "p50_ms": summary["p50_ms"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- figures ------------------------------------------------------------------------


def _figures(details: dict[str, Any]) -> list[Figure]:
    results = details["results"]
    figures = []
    for key, r in results.items():
        api, raw = r["api"], r["sql"]
        many = key.endswith("32 clients")
        figures.append(
            Figure(
                NAME,
                f"{key}: API",
                api["rate"],
                "req/s",
                "same SQL, psycopg pool",
                raw["rate"],
                targets=(Target("ratio", ">=", 0.25),),
            )
        )
        figures.append(
            Figure(
                NAME,
                f"{key}: API p99",
                api["p99_ms"],
                "ms",
                "same SQL p99",
                raw["p99_ms"],
                targets=(Target("ratio", "<=", 2),) if many else (),
            )
        )
    for clients in CLIENTS:
        suffix = f"{clients} client{'s' if clients > 1 else ''}"
        deep, first = results[f"admin deep page, {suffix}"], results[f"admin first page, {suffix}"]
        figures.append(
            Figure(
                NAME,
                f"admin deep page (90% down), {suffix}: API",
                deep["api"]["rate"],
                "req/s",
                "admin first page, API",
                first["api"]["rate"],
                targets=(Target("ratio", ">=", 0.9),),
            )
        )
    return figures
