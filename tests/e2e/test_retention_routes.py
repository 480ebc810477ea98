"""/api/retention over HTTP: admins set, list and remove policies and see which one
applies to an export; everyone else is refused; bad bodies are 422 problems."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.helpers import ADMIN, USER_A, Api, assert_problem


def test_policies_over_http(api: Api, client: TestClient) -> None:
    assert client.get("/api/retention", headers=ADMIN).json() == {"policies": []}
    made = client.post(
        "/api/retention", json={"after": "90d", "from": "last-event"},
        headers=ADMIN,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    policy = made.json()
    assert (policy["after"], policy["from"], policy["format"], policy["set_by"]) == (
        "90d", "last-event", None, "admin-1",
    )  # fmt: skip
    assert client.get("/api/retention", headers=ADMIN).json()["policies"] == [policy]

    export_id = api.create()["export_id"]
    applies = client.get(f"/api/retention/exports/{export_id}", headers=ADMIN)
    assert applies.status_code == 200, applies.text
    body = applies.json()
    assert body["policy"]["policy_id"] == policy["policy_id"] and body["shed_by"] is None
    assert body["due_at"] is not None

    gone = client.delete(f"/api/retention/{policy['policy_id']}", headers=ADMIN)
    assert gone.status_code == 204, gone.text
    assert_problem(client.delete(f"/api/retention/{policy['policy_id']}", headers=ADMIN), 404)
    assert client.get(f"/api/retention/exports/{export_id}", headers=ADMIN).json()["policy"] is None


def test_retention_is_for_admins_and_checks_its_input(client: TestClient) -> None:
    assert_problem(client.get("/api/retention", headers=USER_A), 403)
    good = {"after": "30d", "from": "expiry"}
    assert_problem(client.post("/api/retention", json=good, headers=USER_A), 403)
    for bad in (
        {"after": "30x", "from": "expiry"},
        {"after": "30d", "from": "birth"},
        {"after": "0d", "from": "expiry"},
        {"after": "30d", "from": "expiry", "status": "gone"},
        {**good, "extra": 1},
    ):
        assert_problem(client.post("/api/retention", json=bad, headers=ADMIN), 422)
    missing = "/api/retention/exports/exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"
    assert_problem(client.get(missing, headers=ADMIN), 404)
