"""High availability on a real three-node Patroni cluster: failover windows, and
commands/s with one and two server processes, with and without a synchronous standby.

The cluster is the tests' (tests/integration/patroni.py: etcd and three
PostgreSQL 15 nodes on loopback, ``synchronous_mode``, ``ttl`` 10 s,
``loop_wait`` 2 s, ``retry_timeout`` 4 s, ``primary_start_timeout`` 0), here
with fsync on (the tests run it off); the
ledger connects with its multi-host URL (``target_session_attrs=read-write``).
The admin URL the runner passes is not used.

Failover, five times: ``export-ledger serve`` (one process, projector on) takes
16 writing clients (tests/e2e/cluster_load.py: creates, then PATCHes to
processing and completed; nothing retried); 4 s in, the leader's postmaster is
killed with SIGKILL. Measured: the write-unavailable window (the longest time
from the kill on in which no command was acknowledged, whether commands were
refused or waited meanwhile), Patroni's promotion time (kill to a new leader
in its REST API), commands refused, and acknowledged commands missing from
the log afterwards (looked up in ``export_log_versions`` once the projection
has caught up). Between runs, the cluster is back to three members.

Throughput, in the same run: ``wrk -t2 -c32`` POSTs (api_commands' script and
body) for 10 s (small: 3 s) against ``serve --no-projector`` with
``--workers 1`` and ``--workers 2``, against a plain FastAPI endpoint that
does one INSERT per request (tests/benchmarks/plain_app.py, one uvicorn
process, pool of 4) under the same wrk, and raw single-row INSERT
transactions from 32 connections; then again with Patroni's
``synchronous_mode`` off (commits no longer wait for a standby). wrk, the
servers and all three PostgreSQL nodes share the machine's cores.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.wiring.auth import issue_token
from api.wiring.database import create_database, migrate
from tests.benchmarks.api_commands import _script, _wrk
from tests.benchmarks.commands import _raw_insert
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import hammer
from tests.benchmarks.workload import RAW_TABLE_DDL
from tests.e2e.cluster_load import (
    Load,
    conflicts_not_recorded,
    lost_and_doubled,
    served,
    wait_caught_up,
)
from tests.integration.patroni import PatroniCluster, patroni_cluster, patroni_programs
from tests.integration.standby import free_port

NAME = "ha"
SECONDS = {"small": 3, "full": int(os.environ.get("HA_SECONDS", "10"))}
FAILOVERS = 5
LOAD_SECONDS = 12.0
KILL_AFTER = 4.0


def run(admin_url: str, scale: str) -> BenchResult:
    del admin_url  # the cluster is this benchmark's own
    if patroni_programs() is None:
        raise RuntimeError(
            "patroni and etcd are not installed (apt-get install patroni etcd-server)"
        )
    seconds = SECONDS[scale]
    details: dict[str, Any] = {"seconds_per_run": seconds, "clients": 32, "failover_clients": 16}
    with (
        patroni_cluster(fsync=True) as cluster,
        tempfile.TemporaryDirectory(prefix="el-bench-ha-") as tmp,
    ):
        url = _database(cluster)
        data = Path(tmp) / "failover"  # one data directory: one checkpoint key for every run
        data.mkdir()
        details["failovers"] = [_failover(cluster, url, data) for _ in range(FAILOVERS)]
        details["synchronous"] = _throughput(url, Path(tmp), seconds, "synchronous standby")
        _synchronous(cluster, on=False)
        details["asynchronous"] = _throughput(url, Path(tmp), seconds, "no synchronous standby")
        _synchronous(cluster, on=True)
    return BenchResult(_figures(details), details)


def _database(cluster: PatroniCluster) -> str:
    cluster.wait_healthy()
    create_database(cluster.url("postgres"), "bench_ha")
    url = cluster.url("bench_ha", connect_timeout="2")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_TABLE_DDL)
    return url


def _failover(cluster: PatroniCluster, url: str, data: Path) -> dict[str, Any]:
    old = cluster.wait_healthy()
    with served(url, data) as server:
        load = Load(server).start()
        time.sleep(KILL_AFTER)
        killed = time.monotonic()
        old.kill_postmaster()
        promoted = _promotion(cluster, old.name, killed)
        time.sleep(max(LOAD_SECONDS - (time.monotonic() - killed) - KILL_AFTER, 2.0))
        load.stop()
        cluster.wait_healthy()
        wait_caught_up(server)
        lost, doubled = lost_and_doubled(load, url)
        conflicts_missing = conflicts_not_recorded(load, url)
    refused = load.failed()
    result = {
        "window_s": round(load.stall(killed), 3),
        "promotion_s": round(promoted, 3),
        "acknowledged": len(load.acknowledged()),
        "refused": len(refused),
        "refused_statuses": sorted({o.status for o in refused}),
        "conflicts_recorded": sum(o.status == 409 for o in refused) - len(conflicts_missing),
        "conflicts_not_recorded": len(conflicts_missing),
        "lost": len(lost),
        "recorded_twice": len(doubled),
        "slowest_acknowledged_s": round(load.slowest(), 3),
    }
    print(f"  failover {old.name}: {result}", flush=True)
    return result


def _promotion(cluster: PatroniCluster, old: str, killed: float) -> float:
    deadline = killed + 120
    while time.monotonic() < deadline:
        leader = cluster.leader()
        if leader is not None and leader.name != old:
            return time.monotonic() - killed
        time.sleep(0.1)
    raise RuntimeError("no new leader within 120 s")


def _throughput(url: str, tmp: Path, seconds: int, label: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workers in (1, 2):
        data = Path(tempfile.mkdtemp(dir=tmp))
        with served(url, data, "--no-projector", "--workers", str(workers)) as server:
            tokens = [issue_token(server.secret, f"bench-user-{i}") for i in range(8)]
            script = data / "post.lua"
            script.write_text(_script(tokens))
            results[f"workers_{workers}"] = _wrk(server.base + "/api/exports", script, 32, seconds)
    with _plain_app(url) as base:
        script = tmp / "plain.lua"
        script.write_text(_script(["-"]))
        results["plain_fastapi"] = _wrk(base + "/api/exports", script, 32, seconds)
    results["raw_insert"] = hammer(32, seconds, _raw_insert(url)).summary()
    rates = {k: round(v["rate"]) for k, v in results.items()}
    print(f"  {label}: {rates}", flush=True)
    return results


@contextmanager
def _plain_app(url: str) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.benchmarks.plain_app:create",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = os.environ | {"PLAIN_APP_DATABASE_URL": url}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _synchronous(cluster: PatroniCluster, *, on: bool) -> None:
    """Patroni's synchronous_mode on or off; until the leader's setting follows."""
    value = "true" if on else "false"
    cluster.patronictl("edit-config", "--set", f"synchronous_mode={value}", "--force", "-q")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leader = cluster.leader()
        if leader is not None:
            with psycopg.connect(leader.url(), autocommit=True) as conn:
                row = conn.execute("SHOW synchronous_standby_names").fetchone()
            if bool(row and row[0]) == on:
                return
        time.sleep(0.5)
    raise RuntimeError(f"synchronous_mode={value} did not take effect")


def _figures(details: dict[str, Any]) -> list[Figure]:
    runs = details["failovers"]
    window = statistics.median(r["window_s"] for r in runs)
    promotion = statistics.median(r["promotion_s"] for r in runs)
    lost = sum(r["lost"] + r["recorded_twice"] for r in runs)
    acknowledged = sum(r["acknowledged"] for r in runs)
    sync, async_ = details["synchronous"], details["asynchronous"]

    def rate(found: dict[str, Any], key: str) -> float:
        return float(found[key]["rate"])

    figures = [
        Figure(
            NAME,
            f"write-unavailable window after SIGKILL of the primary, p50 of {len(runs)}",
            window,
            "s",
            "Patroni's promotion (kill to new leader), p50",
            promotion,
            targets=(Target("value", "<", 15, "s"),),
        ),
        Figure(
            NAME,
            f"acknowledged commands lost or recorded twice, {len(runs)} failovers",
            lost,
            "commands",
            "commands acknowledged",
            acknowledged,
            targets=(Target("value", "<=", 0, "commands"),),
        ),
    ]
    for label, found in (("synchronous standby", sync), ("no synchronous standby", async_)):
        figures += [
            Figure(
                NAME,
                f"POST /api/exports, --workers 2, 32 clients, {label}",
                rate(found, "workers_2"),
                "commands/s",
                "same, --workers 1",
                rate(found, "workers_1"),
            ),
            Figure(
                NAME,
                f"POST /api/exports, --workers 1, 32 clients, {label}",
                rate(found, "workers_1"),
                "commands/s",
                "plain FastAPI endpoint, one INSERT per request",
                rate(found, "plain_fastapi"),
                "requests/s",
            ),
            Figure(
                NAME,
                f"plain FastAPI endpoint, one INSERT per request, {label}",
                rate(found, "plain_fastapi"),
                "requests/s",
                "raw INSERT, 32 connections",
                rate(found, "raw_insert"),
                "tx/s",
            ),
        ]
    figures.append(
        Figure(
            NAME,
            "POST /api/exports, --workers 2, 32 clients, synchronous standby",
            rate(sync, "workers_2"),
            "commands/s",
            "same, no synchronous standby",
            rate(async_, "workers_2"),
        )
    )
    return figures
