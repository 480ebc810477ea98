"""Legal holds over HTTP: placed and released by admins, a 409 naming the hold on
expire and delete, the expiry job's count of held exports, and on_hold lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.e2e.helpers import ADMIN, POSITION, USER_A, Api, assert_problem, completion


def _completed_past_expiry(api: Api) -> str:
    export_id: str = api.create()["export_id"]
    api.advance(export_id, "processing")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert api.patch(export_id, completion(expires_at=past), ADMIN).status_code == 200
    return export_id


def _hold(client: TestClient, export_id: str, matter: str = "ACME v. Example") -> str:
    placed = client.post(
        f"/api/exports/{export_id}/holds", json={"matter": matter, "reason": "notice"},
        headers=ADMIN,
    )  # fmt: skip
    assert placed.status_code == 201, placed.text
    assert int(placed.headers[POSITION]) > 0
    body = placed.json()
    assert body["matter"] == matter and body["placed_by"] == "admin-1"
    hold_id: str = body["hold_id"]
    return hold_id


def test_holds_are_for_admins(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    url = f"/api/exports/{export_id}/holds"
    assert_problem(client.post(url, json={"matter": "M"}, headers=USER_A), 403)
    assert_problem(client.get(url, headers=USER_A), 403)
    assert_problem(client.post(url, json={"matter": ""}, headers=ADMIN), 422)
    assert_problem(client.post(url, json={"matter": "M", "x": 1}, headers=ADMIN), 422)
    missing = "/api/exports/exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C/holds"
    assert_problem(client.post(missing, json={"matter": "M"}, headers=ADMIN), 404)


def test_a_held_export_cannot_be_deleted_or_expired(api: Api, client: TestClient) -> None:
    export_id = _completed_past_expiry(api)
    hold_id = _hold(client, export_id)
    listed = client.get(f"/api/exports/{export_id}/holds", headers=ADMIN).json()
    assert [h["hold_id"] for h in listed["holds"]] == [hold_id]

    refused = assert_problem(client.delete(f"/api/exports/{export_id}", headers=ADMIN), 409)
    assert refused["hold_id"] == hold_id and "ACME v. Example" in refused["detail"]
    refused = assert_problem(api.patch(export_id, {"status": "expired"}, ADMIN), 409)
    assert refused["hold_id"] == hold_id

    job = client.post("/api/exports/expire", headers=ADMIN).json()
    assert job == {"expired": 0, "on_hold": 1}
    on_hold = api.list(ADMIN, on_hold="true", min_position=api.get(export_id).json()["position"])
    assert [r["export_id"] for r in on_hold.json()["logs"]] == [export_id]
    free = api.list(ADMIN, on_hold="false").json()["logs"]
    assert export_id not in [r["export_id"] for r in free]
    assert_problem(api.list(ADMIN, on_hold="true", as_of="2030-01-01T00:00:00Z"), 422)

    released = client.delete(f"/api/exports/{export_id}/holds/{hold_id}", headers=ADMIN)
    assert released.status_code == 204, released.text
    assert_problem(client.delete(f"/api/exports/{export_id}/holds/{hold_id}", headers=ADMIN), 404)
    assert_problem(client.delete(f"/api/exports/{export_id}/holds/nope", headers=ADMIN), 404)
    after = int(released.headers[POSITION])
    assert api.list(ADMIN, on_hold="true", min_position=after).json()["logs"] == []
    assert client.post("/api/exports/expire", headers=ADMIN).json() == {"expired": 1, "on_hold": 0}
    history = client.get(f"/api/exports/{export_id}/history", headers=ADMIN).json()
    assert [e["type"] for e in history][-3:] == ["HoldPlaced", "HoldReleased", "Expired"]


def test_a_user_sees_the_on_hold_filter_on_their_own_exports(api: Api, client: TestClient) -> None:
    mine = api.create()["export_id"]
    _hold(client, mine)
    position = api.get(mine, ADMIN).json()["position"]
    listed = api.list(USER_A, on_hold="true", min_position=position).json()
    assert [r["export_id"] for r in listed["logs"]] == [mine]
    assert listed["total"] == 1
