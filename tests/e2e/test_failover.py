"""The ledger on a real three-node Patroni cluster: failover, switchover, a lost standby.

A server process connects with the cluster's multi-host URL
(``target_session_attrs=read-write``) while 16 clients write; the leader's
postmaster is then killed with SIGKILL (or Patroni is asked to switch over).
What was acknowledged must be in the log, once; clients see 503 problems,
never a 500, while there is no primary; writes come back on the new primary
by themselves; ``verify`` and ``rebuild --check`` pass; and the checkpoint
signed after the failover extends the one before it. The tests need Debian's
``patroni`` and ``etcd-server``; they are skipped without them, unless CI is
set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from api.wiring.database import create_database, migrate
from sql.names import EVENTS_TABLE
from tests import pg
from tests.e2e.cluster_load import (
    Load,
    Served,
    cli,
    conflicts_not_recorded,
    consistent,
    latest_checkpoint,
    ledger_env,
    lost_and_doubled,
    served,
    wait_caught_up,
)
from tests.integration.patroni import SCOPE, PatroniCluster, patroni_cluster, patroni_programs

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

LOAD_SECONDS = 20.0
UNAVAILABLE = "urn:export-ledger:problem:unavailable"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PatroniCluster]:
    if patroni_programs() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs patroni and etcd (apt-get install patroni etcd-server)")
        pytest.skip("patroni and etcd are not installed")
    with patroni_cluster() as started:
        yield started


@pytest.fixture
def database(cluster: PatroniCluster) -> str:
    """A fresh, migrated database on the cluster; its multi-host URL."""
    cluster.wait_healthy()
    name = pg.new_name("el_ha")
    create_database(cluster.url("postgres"), name)
    url = cluster.url(name, connect_timeout="2")
    migrate(url)
    return url


def _run_load(server: Served, disrupt: float, action: object) -> tuple[Load, float]:
    """16 clients for LOAD_SECONDS; ``action()`` after ``disrupt`` seconds. The moment it ran."""
    load = Load(server).start()
    time.sleep(disrupt)
    moment = time.monotonic()
    assert callable(action)
    action()
    time.sleep(max(LOAD_SECONDS - disrupt, 0))
    load.stop()
    return load, moment


def _check_ledger(url: str, data_dir: Path, server: Served, load: Load) -> None:
    env = ledger_env(url, data_dir, server.secret)
    rebuild = cli("rebuild", "--check", env=env)
    assert rebuild.returncode == 0, rebuild.stderr
    verify = cli("verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    lost, doubled = lost_and_doubled(load, url)
    assert lost == [], f"{len(lost)} acknowledged commands are not in the log"
    assert doubled == []
    assert conflicts_not_recorded(load, url) == []


def _statuses(load: Load) -> set[int]:
    return {o.status for o in load.outcomes}


def test_a_killed_primary_loses_no_acknowledged_command(
    cluster: PatroniCluster, database: str, tmp_path: Path
) -> None:
    old = cluster.leader()
    assert old is not None
    checkpoints: list[dict[str, object]] = []

    def kill() -> None:
        checkpoints.append(latest_checkpoint(server))  # signed before the failover
        old.kill_postmaster()

    with served(database, tmp_path, **_replicas(cluster, database)) as server:
        load, killed = _run_load(server, LOAD_SECONDS / 3, kill)
        new = cluster.wait_healthy()
        wait_caught_up(server)
        _wait_rotation(server, cluster)  # the old primary reads as a standby, the new not
        after = latest_checkpoint(server)
        _check_ledger(database, tmp_path, server, load)
        assert consistent(server, checkpoints[0], after)
    window = load.window(killed)
    print(
        f"largest position gap {_largest_gap(database)}; "
        f"failover {old.name} -> {new.name}: {len(load.acknowledged())} acknowledged, "
        f"{len(load.failed())} refused (first refused to first acknowledged: {window} s), "
        f"no acknowledgement for {load.stall(killed):.2f} s, slowest {load.slowest():.2f} s"
    )
    assert new.name != old.name
    _assert_only_unavailable(load)
    resumed = [o for o in load.acknowledged() if o.started > killed + (window or 0)]
    assert resumed, "writes did not resume on the new primary"


def test_a_switchover_while_serving_refuses_nothing_but_503s(
    cluster: PatroniCluster, database: str, tmp_path: Path
) -> None:
    old = cluster.wait_healthy()
    candidate = next(node for node in cluster.nodes if node is not old)

    def switchover() -> None:
        cluster.patronictl(
            "switchover", "--leader", old.name, "--candidate", candidate.name, "--force", SCOPE
        )

    with served(database, tmp_path) as server:
        load, moved = _run_load(server, LOAD_SECONDS / 3, switchover)
        assert cluster.wait_healthy().name == candidate.name
        wait_caught_up(server)
        _check_ledger(database, tmp_path, server, load)
    print(
        f"switchover {old.name} -> {candidate.name}: {len(load.acknowledged())} acknowledged, "
        f"{len(load.failed())} refused, no acknowledgement for {load.stall(moved):.2f} s"
    )
    _assert_only_unavailable(load)
    assert [o for o in load.acknowledged() if o.started > moved + load.stall(moved)]


def test_a_killed_standby_leaves_reads_to_the_others(
    cluster: PatroniCluster, database: str, tmp_path: Path
) -> None:
    leader = cluster.wait_healthy()
    standby = next(node for node in cluster.nodes if node is not leader)
    reads: list[int] = []
    with served(database, tmp_path, **_replicas(cluster, database)) as server:
        _wait_rotation(server, cluster)
        load = Load(server, clients=4).start()
        try:
            with httpx.Client(base_url=server.base, headers=server.headers(), timeout=30) as client:
                for number in range(200):
                    if number == 50:
                        standby.kill_postmaster()
                    reads.append(client.get("/api/exports", params={"limit": 5}).status_code)
                    time.sleep(0.02)
        finally:
            load.stop()
        cluster.wait_healthy()  # Patroni restarts the standby's PostgreSQL
        wait_caught_up(server)
        _check_ledger(database, tmp_path, server, load)
    assert set(reads) == {200}
    _assert_only_unavailable(load)


def _replicas(cluster: PatroniCluster, database: str) -> dict[str, str]:
    """Every node as a read replica (``target_session_attrs=standby``: a primary is
    refused at connect): the rotation keeps those that are standbys."""
    name = database.split("/")[-1].split("?")[0]
    urls = [
        f"{node.url(name)}?target_session_attrs=standby&connect_timeout=2" for node in cluster.nodes
    ]
    return {"EXPORT_LEDGER_READ_DATABASE_URLS": ",".join(urls)}


def _wait_rotation(server: Served, cluster: PatroniCluster, timeout: float = 60) -> None:
    """Until /readyz shows the standbys, and only they, in the read rotation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = cluster.leader()
        expected = {
            f"replica-{n}": "down" if node is leader else "ok"
            for n, node in enumerate(cluster.nodes, 1)
        }
        replicas = httpx.get(server.base + "/readyz", timeout=5).json().get("replicas", [])
        if {r["name"]: r["state"] for r in replicas} == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"the read rotation did not follow the roles: {replicas}")


def _largest_gap(url: str) -> int:
    """The largest jump between consecutive positions (a sequence restarts past the
    values it logged ahead when a standby is promoted); verify passed across it."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT max(next - id) FROM (SELECT notification_id AS id, "
            f"lead(notification_id) OVER (ORDER BY notification_id) AS next FROM {EVENTS_TABLE}) g"
        ).fetchone()
    return int(row[0] or 0) if row else 0


def _assert_only_unavailable(load: Load) -> None:
    """Every refused command was a 503 problem: never a 500, never a dropped connection.
    (Or a 409 for a command the log holds: see ``conflicts_not_recorded``.)"""
    assert _statuses(load) <= {200, 201, 409, 503}, _statuses(load)
    refused = {o.problem_type for o in load.failed() if o.status == 503}
    assert refused <= {UNAVAILABLE}
