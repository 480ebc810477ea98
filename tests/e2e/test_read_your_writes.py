"""A command's X-Ledger-Position, passed to a read, always shows the change."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.e2e.helpers import POSITION, USER_A, Api, assert_problem, export_body


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
