"""Lifecycle commands, downloads, deletion, expiry and history: success and error paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.e2e.helpers import (
    ADMIN,
    POSITION,
    USER_A,
    Api,
    assert_problem,
    completion,
)


def test_illegal_transition_names_both_statuses(api: Api) -> None:
    created = api.create()
    problem = assert_problem(api.patch(created["export_id"], completion()), 409)
    assert problem["current_status"] == "queued"
    assert problem["requested_status"] == "completed"
    assert "queued" in problem["detail"] and "completed" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "completed", "file_url": "https://x"}, "file_size"),
        ({"status": "completed", "file_size": 1}, "file_url"),
        ({"status": "failed"}, "error_message"),
        ({"status": "failed", "error_message": "   "}, "error_message"),
        ({"status": "processing", "file_size": 10}, "file_size"),
        ({"status": "deleted"}, "body"),
        (completion(expires_at="tomorrow"), "expires_at"),
        (completion(expires_at="2030-01-01T00:00:00"), "expires_at"),
        (completion(file_sha256="ABC"), "file_sha256"),
        (completion(file_size=-1), "file_size"),
        (completion(row_count=True), "row_count"),
    ],
)
def test_update_rejects_bad_bodies(api: Api, body: dict[str, object], field: str) -> None:
    created = api.create()
    api.advance(created["export_id"], "processing")
    problem = assert_problem(api.patch(created["export_id"], body), 422)
    assert any(field in e["field"] for e in problem["errors"]), problem
    history = api.client.get(f"/api/exports/{created['export_id']}/history", headers=USER_A)
    assert len(history.json()) == 2  # nothing more was recorded


def test_fail_retry_and_expire(api: Api) -> None:
    export_id = api.create()["export_id"]
    early = api.patch(export_id, {"status": "failed", "error_message": "disk full"})
    assert assert_problem(early, 409)["current_status"] == "queued"
    api.advance(export_id, "processing", headers=USER_A)
    failed = api.patch(export_id, {"status": "failed", "error_message": "disk full"})
    assert failed.json()["status"] == "failed"
    assert failed.json()["error_message"] == "disk full"
    retried = api.patch(export_id, {"status": "queued"})
    assert retried.json()["status"] == "queued" and retried.json()["error_message"] is None
    api.advance(export_id, "processing", "completed", headers=USER_A)
    expired = api.patch(export_id, {"status": "expired"})
    assert expired.status_code == 200 and expired.json()["status"] == "expired"
    assert expired.json()["last_actor"] == "user-a"


def test_downloads(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    url = f"/api/exports/{export_id}/downloads"
    assert assert_problem(client.post(url, headers=USER_A), 409)["current_status"] == "queued"
    api.advance(export_id, "processing")
    api.patch(export_id, completion(file_sha256="ab" * 32), ADMIN)
    first = client.post(url, headers=USER_A)
    assert first.status_code == 200, first.text
    assert first.json()["download_count"] == 1
    second = client.post(url, json={"file_sha256": "ab" * 32}, headers=USER_A)
    assert second.json()["download_count"] == 2
    assert int(second.headers[POSITION]) > int(first.headers[POSITION])
    assert_problem(client.post(url, json={"file_sha256": "nope"}, headers=USER_A), 422)
    assert_problem(client.post(url, json={"extra": 1}, headers=USER_A), 422)


def test_download_of_an_expired_file_is_a_conflict(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    api.advance(export_id, "processing")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    api.patch(export_id, completion(expires_at=past), ADMIN)
    problem = assert_problem(
        client.post(f"/api/exports/{export_id}/downloads", headers=USER_A), 409
    )
    assert "expired" in problem["detail"]


def test_delete_paths(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    url = f"/api/exports/{export_id}"
    assert_problem(client.delete(url, headers=USER_A), 403)
    deleted = client.delete(url, params={"reason": "GDPR request"}, headers=ADMIN)
    assert deleted.status_code == 204
    assert_problem(client.delete(url, headers=ADMIN), 404)
    assert_problem(api.patch(export_id, {"status": "processing"}), 404)
    history = client.get(f"{url}/history", headers=USER_A).json()
    assert history[-1]["type"] == "Deleted"
    assert history[-1]["actor"] == "admin-1"
    assert history[-1]["data"]["reason"] == "GDPR request"
    as_deleted = api.get(export_id, version=2)
    assert as_deleted.json()["status"] == "deleted"


def test_expire_is_for_admins(client: TestClient) -> None:
    assert_problem(client.post("/api/exports/expire", headers=USER_A), 403)
    assert client.post("/api/exports/expire", headers=ADMIN).json() == {"expired": 0, "on_hold": 0}


def test_history_lists_every_event(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    api.advance(export_id, "processing", "completed", headers=USER_A)
    client.post(f"/api/exports/{export_id}/downloads", headers=USER_A)
    response = client.get(f"/api/exports/{export_id}/history", headers=USER_A)
    assert response.status_code == 200, response.text
    events = response.json()
    assert [e["type"] for e in events] == [
        "Requested",
        "ProcessingStarted",
        "Completed",
        "Downloaded",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and None not in positions
    assert {e["actor"] for e in events} == {"user-a"}
    assert events[0]["data"]["conversation_count"] == 42
    assert events[2]["data"]["file_size"] == 1024000
    assert_problem(
        client.get("/api/exports/exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C/history", headers=USER_A), 404
    )


@pytest.mark.parametrize("export_id", ["nope", "exp_%00", "exp_" + "Z" * 60, "..%2F..%2Fetc"])
def test_malformed_ids_are_not_found(api: Api, client: TestClient, export_id: str) -> None:
    assert_problem(api.get(export_id), 404)
    assert_problem(api.patch(export_id, {"status": "processing"}), 404)
    assert_problem(client.get(f"/api/exports/{export_id}/history", headers=USER_A), 404)
