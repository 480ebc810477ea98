"""Reads served by a real hot standby: routing, read-your-writes, and a standby restart.

A primary and a ``pg_basebackup -R`` standby run on loopback ports for this
module. A read proves it came from the standby by being stale: with the
standby's WAL replay paused, an export the primary's read table already holds
is missing from what the API answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.http.deps import Services
from api.wiring.database import create_database, migrate
from tests import pg
from tests.e2e.conftest import make_settings
from tests.e2e.helpers import POSITION, USER_A, Api, export_body
from tests.integration.standby import Server, primary_and_standby, replay, server_binaries

READ_WAIT_SECONDS = 8.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Server, Server]]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server programs (initdb, pg_basebackup) on this machine")
    with primary_and_standby(binaries) as servers:
        yield servers


@pytest.fixture
def client(cluster: tuple[Server, Server], tmp_path: Path) -> Iterator[TestClient]:
    primary, standby = cluster
    name = pg.new_name("el_replica")
    create_database(primary.url(), name)
    migrate(primary.url(name))
    settings = make_settings(
        primary.url(name),
        tmp_path,
        read_database_urls=[standby.url(name)],
        read_wait_seconds=READ_WAIT_SECONDS,
    )
    with TestClient(create_app(settings, run_migrations=False)) as test_client:
        _wait_replica_state(test_client, "ok")
        yield test_client


def services(client: TestClient) -> Services:
    app: FastAPI = client.app  # type: ignore[assignment]
    return app.state.services  # type: ignore[no-any-return]


def test_reads_come_from_the_standby_and_see_their_writes(
    client: TestClient, cluster: tuple[Server, Server]
) -> None:
    api, standby = Api(client), cluster[1]
    for n in range(10):
        created = api.create(conversation_count=n)
        page = api.list(min_position=created["_position"], limit=1).json()
        assert page["logs"][0]["export_id"] == created["export_id"]
        header = {**USER_A, "X-Min-Position": str(created["_position"])}
        assert client.get(f"/api/exports/{created['export_id']}", headers=header).status_code == 200
    stale = _assert_reads_hit_the_standby(api, client, standby)
    # While replay is paused, a read given the position waits on the standby's own
    # tracking row; it answers soon after replay resumes, long before the wait is over.
    replay(standby, paused=True)
    created = api.create()
    started = time.monotonic()
    answer: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=lambda: answer.append(api.list(min_position=created["_position"]).json())
    )
    reader.start()
    time.sleep(0.5)
    replay(standby, paused=False)
    reader.join(timeout=READ_WAIT_SECONDS + 5)
    took = time.monotonic() - started
    assert 0.5 <= took < READ_WAIT_SECONDS / 2, took
    assert created["export_id"] in {log["export_id"] for log in answer[0]["logs"]}
    assert stale in {log["export_id"] for log in answer[0]["logs"]}
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        names = {row[0] for row in conn.execute("SELECT application_name FROM pg_stat_activity")}
    assert "export-ledger-reads-replica-1" in names


def test_reads_keep_answering_while_the_standby_restarts(
    client: TestClient, cluster: tuple[Server, Server]
) -> None:
    api, standby = Api(client), cluster[1]
    known = api.create()
    restarted = threading.Thread(target=_restart, args=(standby,))
    restarted.start()
    statuses: list[int] = []
    states: set[str] = set()
    while restarted.is_alive():
        created = client.post("/api/exports", json=export_body(), headers=USER_A)
        statuses.append(created.status_code)
        position = created.headers.get(POSITION, "0")
        statuses.append(api.list(min_position=position, limit=5).status_code)
        statuses.append(api.get(known["export_id"]).status_code)
        states.add(_replica_state(client))
    restarted.join()
    assert statuses and set(statuses) <= {200, 201}, statuses
    assert "down" in states  # the reads above went to the primary meanwhile
    _wait_replica_state(client, "ok")
    _assert_reads_hit_the_standby(api, client, standby)


def _assert_reads_hit_the_standby(api: Api, client: TestClient, standby: Server) -> str:
    """With replay paused, a new export the primary's read table holds is missing from an
    eventual read (a strong one, the default, would wait and then go to the primary)."""
    replay(standby, paused=True)
    try:
        created = api.create()
        assert services(client).watcher.wait_for(created["_position"], 10)  # on the primary
        listed = api.list(limit=200, consistency="eventual").json()
        assert created["export_id"] not in {log["export_id"] for log in listed["logs"]}
        assert api.get(created["export_id"], consistency="eventual").status_code == 404
    finally:
        replay(standby, paused=False)
    return str(created["export_id"])


def _restart(standby: Server) -> None:
    standby.stop()
    time.sleep(1.0)
    standby.start()


def _replica_state(client: TestClient) -> str:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    replicas = ready.json()["replicas"]
    assert [replica["name"] for replica in replicas] == ["replica-1"]
    return str(replicas[0]["state"])


def _wait_replica_state(client: TestClient, state: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _replica_state(client) != state:
        assert time.monotonic() < deadline, f"replica-1 never became {state}"
        time.sleep(0.05)
