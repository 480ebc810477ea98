"""The original export service's 11 test cases, through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.e2e.helpers import ADMIN, POSITION, USER_A, Api, assert_problem, completion

MISSING_ID = "exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"


def test_1_create_export_log(client: TestClient) -> None:
    config = {"scope": "filtered", "filters": {"tiers": ["template"], "quality_score_min": 7.5}}
    response = client.post(
        "/api/exports",
        json={"format": "jsonl", "config": config, "conversation_count": 42},
        headers=USER_A,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["export_id"].startswith("exp_")
    assert created["user_id"] == "user-a"
    assert created["status"] == "queued"
    assert created["format"] == "jsonl"
    assert created["conversation_count"] == 42
    assert created["config"]["filters"] == {"tiers": ["template"], "quality_score_min": 7.5}
    assert created["file_size"] is None and created["file_url"] is None
    assert response.headers["Location"] == f"/api/exports/{created['export_id']}"
    assert int(response.headers[POSITION]) == created["position"] > 0


def test_2_get_export_log_by_id(api: Api) -> None:
    created = api.create()
    response = api.get(created["export_id"], min_position=created["_position"])
    assert response.status_code == 200, response.text
    found = response.json()
    for field in ("export_id", "user_id", "format", "config", "conversation_count", "status"):
        assert found[field] == created[field]
    assert found["timestamp"] == found["created_at"]


def test_3_get_nonexistent_export_returns_404(api: Api) -> None:
    problem = assert_problem(api.get(MISSING_ID), 404)
    assert MISSING_ID in problem["detail"]


def test_4_update_export_log_to_processing(api: Api) -> None:
    created = api.create()
    response = api.patch(created["export_id"], {"status": "processing"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processing"
    found = api.get(created["export_id"], min_position=response.headers[POSITION]).json()
    assert found["status"] == "processing"


def test_5_update_export_log_to_completed(api: Api) -> None:
    created = api.create()
    api.advance(created["export_id"], "processing", headers=USER_A)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = api.patch(
        created["export_id"],
        completion(
            file_size=2048, file_url="https://files.example.com/a.jsonl", expires_at=expires
        ),
    )
    assert response.status_code == 200, response.text
    found = api.get(created["export_id"], min_position=response.headers[POSITION]).json()
    assert found["status"] == "completed"
    assert found["file_size"] == 2048
    assert found["file_url"] == "https://files.example.com/a.jsonl"
    assert datetime.fromisoformat(found["expires_at"]) == datetime.fromisoformat(expires)


def test_6_list_export_logs(api: Api) -> None:
    ids = [api.create(conversation_count=n)["export_id"] for n in range(3)]
    api.create(headers=ADMIN)  # someone else's
    last = api.create()
    response = api.list(min_position=last["_position"])
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 4
    assert page["page"] == 1 and page["limit"] == 25 and page["next_cursor"] is None
    assert [log["export_id"] for log in page["logs"]] == [last["export_id"], *reversed(ids)]


def test_7_list_with_filters_format_and_status(api: Api) -> None:
    wanted = api.create(format="jsonl")["export_id"]
    api.create(format="jsonl")
    other_format = api.create(format="csv")["export_id"]
    api.advance(wanted, "processing", "completed")
    position = api.advance(other_format, "processing", "completed")
    response = api.list(format="jsonl", status="completed", min_position=position)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 1
    assert [log["export_id"] for log in page["logs"]] == [wanted]


def test_8_create_expired_export(api: Api) -> None:
    created = api.create()
    api.advance(created["export_id"], "processing")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    response = api.patch(created["export_id"], completion(expires_at=past))
    assert response.status_code == 200, response.text
    found = api.get(created["export_id"], min_position=response.headers[POSITION]).json()
    assert found["status"] == "completed"
    assert datetime.fromisoformat(found["expires_at"]) < datetime.now(UTC)


def test_9_mark_expired_exports(api: Api, client: TestClient) -> None:
    due = api.create()["export_id"]
    fresh = api.create()["export_id"]
    api.advance(due, "processing")
    api.advance(fresh, "processing", "completed")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    position = int(api.patch(due, completion(expires_at=past)).headers[POSITION])
    response = client.post("/api/exports/expire", params={"min_position": position}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"expired": 1, "on_hold": 0}
    after = int(response.headers[POSITION])
    assert api.get(due, min_position=after).json()["status"] == "expired"
    assert api.get(fresh).json()["status"] == "completed"
    again = client.post("/api/exports/expire", headers=ADMIN)
    assert again.json() == {"expired": 0, "on_hold": 0}


def test_10_update_nonexistent_export_returns_404(api: Api) -> None:
    assert_problem(api.patch(MISSING_ID, {"status": "processing"}), 404)


def test_11_delete_export_log(api: Api, client: TestClient) -> None:
    created = api.create()
    response = client.delete(f"/api/exports/{created['export_id']}", headers=ADMIN)
    assert response.status_code == 204, response.text
    assert response.content == b""
    position = response.headers[POSITION]
    assert_problem(api.get(created["export_id"], min_position=position), 404)
    assert api.list(min_position=position).json()["total"] == 0
    history = client.get(f"/api/exports/{created['export_id']}/history", headers=ADMIN).json()
    assert [event["type"] for event in history] == ["Requested", "Deleted"]
