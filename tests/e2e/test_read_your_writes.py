"""A command's X-Ledger-Position, passed to a read, always shows the change."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.console.session import COOKIE
from tests.e2e.helpers import (
    ADMIN,
    POSITION,
    USER_A,
    USER_B,
    Api,
    assert_problem,
    export_body,
    token,
)


def test_a_list_with_min_position_always_shows_the_command(api: Api) -> None:
    for n in range(20):
        created = api.create(conversation_count=n)
        page = api.list(min_position=created["_position"], limit=1).json()
        assert page["logs"][0]["export_id"] == created["export_id"]
        assert page["total"] == n + 1
        moved = api.patch(created["export_id"], {"status": "processing"})
        header = {**USER_A, "X-Min-Position": moved.headers[POSITION]}
        listed = api.client.get("/api/exports", params={"status": "processing"}, headers=header)
        assert listed.json()["total"] == n + 1


def test_a_position_ahead_of_the_ledger_is_refused_at_once(api: Api) -> None:
    created = api.create()
    problem = assert_problem(api.list(min_position=created["_position"] + 1000), 422)
    assert "ahead" in problem["detail"]


def test_without_a_projector_the_wait_is_bounded(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(run_projector=False, read_wait_seconds=0.3)
    with TestClient(app) as client:
        response = client.post("/api/exports", json=export_body(), headers=USER_A)
        position = response.headers[POSITION]
        waited = client.get("/api/exports", params={"min_position": position}, headers=USER_A)
        assert_problem(waited, 503)
        assert waited.headers["Retry-After"]
        ready = client.get("/readyz").json()["projection"]
        assert ready == {
            "position": 0,
            "head": int(position),
            "lag": int(position),
            "projector": "external",
            "projected_by": None,
            "process": ready["process"],
        }
        assert_problem(client.get("/api/exports", headers=USER_A), 503)  # strong: it waits
        eventual = client.get("/api/exports", params={"consistency": "eventual"}, headers=USER_A)
        assert eventual.json()["total"] == 0


def test_a_users_strong_list_waits_only_for_their_own_commands(
    make_app: Callable[..., FastAPI],
) -> None:
    # No projector: every command stays in the unprojected tail, so a strong read that
    # must wait for one answers 503, and one that need not answers at once.
    app = make_app(run_projector=False, read_wait_seconds=0.3)
    with TestClient(app) as client:
        created = client.post("/api/exports", json=export_body(), headers=USER_B)
        assert created.status_code == 201
        others = client.get("/api/exports", headers=USER_A)
        assert others.status_code == 200
        assert others.json()["total"] == 0
        assert_problem(client.get("/api/exports", headers=USER_B), 503)  # B's own export
        assert_problem(client.get("/api/exports", headers=ADMIN), 503)  # admins see all
        client.cookies.set(COOKIE, token("user-a"))
        assert client.get("/ui/exports").status_code == 200  # the console's list too
        client.cookies.clear()
        # A's first export is found by its Requested event alone (no row of A's yet).
        assert client.post("/api/exports", json=export_body(), headers=USER_A).status_code == 201
        assert_problem(client.get("/api/exports", headers=USER_A), 503)
