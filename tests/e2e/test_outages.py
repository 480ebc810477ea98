"""The database going away: 503 problems with Retry-After, then recovery by itself."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from api.http.deps import Services, get_services
from domain.exceptions import ConcurrentModification, StoreUnavailable
from projections.db.database import Database
from projections.reads.read_store import ReadStore
from tests.e2e.helpers import ADMIN, USER_A, Api, assert_problem, export_body

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"


@pytest.fixture
def unreachable_reads(client: TestClient) -> Iterator[None]:
    """Reads go to a database that does not answer."""
    app: FastAPI = client.app  # type: ignore[assignment]
    services: Services = app.state.services
    dead = ReadStore(Database(UNREACHABLE), size=1, timeout=0.5).open()
    broken = copy.copy(services)
    broken.reads = dead
    app.dependency_overrides[get_services] = lambda: broken
    yield
    app.dependency_overrides.clear()
    dead.close()


@pytest.mark.usefixtures("unreachable_reads")
def test_reads_answer_503_when_the_database_is_down(api: Api, client: TestClient) -> None:
    for response in (api.list(), api.get("exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"), client.get("/readyz")):
        assert_problem(response, 503)
        assert int(response.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200


def test_service_recovers_when_connections_are_killed(api: Api, client: TestClient) -> None:
    before = api.create()
    assert api.list(min_position=before["_position"]).json()["total"] == 1
    app: FastAPI = client.app  # type: ignore[assignment]
    url = app.state.services.database.url
    killed = _kill_other_connections(url)
    assert killed >= 3  # reads, ledger, follower and watcher connections
    deadline = time.monotonic() + 30
    while True:  # the first requests may meet a dead connection; no more than a 503
        response = client.post("/api/exports", json=export_body(), headers=USER_A)
        if response.status_code == 201 or time.monotonic() > deadline:
            break
        assert_problem(response, 503)
        time.sleep(0.2)
    assert response.status_code == 201, response.text
    position = response.headers["X-Ledger-Position"]
    page = api.list(min_position=position).json()
    assert page["total"] == 2
    ready = client.get("/readyz").json()
    assert ready["projection"]["projector"] == "running"
    assert client.post("/api/exports/expire", headers=ADMIN).status_code == 200


def _kill_other_connections(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (ConcurrentModification("exp_x"), 409, "concurrent-modification"),
        (StoreUnavailable("event store unavailable"), 503, "unavailable"),
        (psycopg.OperationalError("server closed the connection"), 503, "unavailable"),
        (PoolTimeout("no connection in 5 s"), 503, "unavailable"),
    ],
)
def test_errors_of_the_store_are_problems(
    api: Api,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    kind: str,
) -> None:
    export_id = api.create()["export_id"]
    app: FastAPI = client.app  # type: ignore[assignment]
    ledger = app.state.services.ledger

    def failing(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr(ledger, "start_processing", failing)
    problem = assert_problem(api.patch(export_id, {"status": "processing"}), status)
    assert problem["type"].endswith(kind)
    if status == 503:
        assert api.patch(export_id, {"status": "processing"}).headers["Retry-After"]


def test_unexpected_errors_are_a_500_problem_without_details(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(make_app(run_projector=False), raise_server_exceptions=False) as client:
        ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
        monkeypatch.setattr(ledger, "request_export", lambda **_: 1 / 0)
        response = client.post("/api/exports", json=export_body(), headers=USER_A)
        problem = assert_problem(response, 500)
        assert "division" not in response.text
        assert problem["detail"] == "internal error"
