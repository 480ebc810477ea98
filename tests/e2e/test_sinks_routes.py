"""/api/sinks: admins add (the secret shown once), list, pause, resume, replay and remove
webhook sinks; a target outside the allow-list is a 422 problem, a second sink of a name
a 409, an unknown one a 404; nobody else may touch them."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.wiring.auth import issue_token
from tests.e2e.helpers import ADMIN, SECRET, USER_A, assert_problem, export_body

URL = "/api/sinks"
AUDITOR = {"Authorization": f"Bearer {issue_token(SECRET, 'auditor-1', auditor=True)}"}
BODY = {"name": "siem", "url": "http://127.0.0.1:9/hook", "types": ["export.completed"]}


def test_admins_manage_sinks(client: TestClient) -> None:
    created = client.post(URL, json=BODY, headers=ADMIN)
    assert created.status_code == 201, created.text
    sink = created.json()
    assert sink["secret"].startswith("whsec_") and created.headers["location"] == f"{URL}/siem"
    assert sink["state"] == "active" and sink["types"] == ["export.completed"]
    listed = client.get(URL, headers=ADMIN).json()["sinks"]
    assert [s["name"] for s in listed] == ["siem"] and "secret" not in listed[0]
    assert client.post(f"{URL}/siem/pause", headers=ADMIN).json()["state"] == "paused"
    assert client.post(f"{URL}/siem/resume", headers=ADMIN).json()["state"] == "active"
    replayed = client.post(f"{URL}/siem/replay", json={"from": 1}, headers=ADMIN)
    assert replayed.status_code == 200 and replayed.json()["cursor"] == 0
    assert_problem(client.post(URL, json=BODY, headers=ADMIN), 409)
    assert client.delete(f"{URL}/siem", headers=ADMIN).status_code == 204
    assert_problem(client.delete(f"{URL}/siem", headers=ADMIN), 404)
    assert_problem(client.post(f"{URL}/siem/pause", headers=ADMIN), 404)


def test_targets_outside_the_allow_list_are_refused(client: TestClient) -> None:
    for url in ("https://siem.example.com/h", "http://192.168.1.1/h", "file:///etc/passwd"):
        problem = assert_problem(client.post(URL, json={**BODY, "url": url}, headers=ADMIN), 422)
        assert problem["errors"][0]["field"] == "body.url"
    assert_problem(client.post(URL, json={**BODY, "types": ["export.claimed"]}, headers=ADMIN),
                   422)  # fmt: skip
    assert client.get(URL, headers=ADMIN).json()["sinks"] == []


def test_only_admins_touch_sinks(client: TestClient) -> None:
    for headers, status in ((USER_A, 403), (AUDITOR, 403), ({}, 401)):
        assert_problem(client.get(URL, headers=headers), status)
        assert_problem(client.post(URL, json=BODY, headers=headers), status)


def test_a_failing_sink_shows_in_readyz_and_metrics(client: TestClient) -> None:
    assert client.post(URL, json={**BODY, "types": []}, headers=ADMIN).status_code == 201
    created = client.post("/api/exports", json=export_body(), headers=USER_A)
    assert created.status_code == 201
    deadline = time.monotonic() + 60
    while True:  # nothing listens on port 9: the in-process sender's attempt fails
        sinks = client.get("/readyz").json()["sinks"]
        if sinks and sinks[0]["attempts"] > 0:
            break
        assert time.monotonic() < deadline, sinks
        time.sleep(0.1)
    assert sinks[0]["name"] == "siem" and sinks[0]["lag"] >= 1
    metrics = client.get("/metrics").text
    assert 'export_ledger_sink_failed_attempts{sink="siem"}' in metrics
    assert 'export_ledger_sink_lag_positions{sink="siem"}' in metrics
    listed = client.get(URL, headers=ADMIN).json()["sinks"][0]
    assert listed["last_error"] and listed["cursor"] < int(created.headers["X-Ledger-Position"])
