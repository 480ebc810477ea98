"""Every write through /rest/v1 is a ledger command: its events are in the export's
history, legal holds refuse deletes and expiry, and a write of many rows is one append."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi.testclient import TestClient

from tests.e2e.helpers import ADMIN
from tests.e2e.rest_v1.support import (
    OBJECT,
    RETURN_ROWS,
    TABLE,
    assert_error,
    insert,
    new_row,
    service_headers,
    user_headers,
)

USER = str(uuid.uuid4())


def history(client: TestClient, export_id: str) -> list[str]:
    response = client.get(f"/api/exports/{export_id}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [entry["type"] for entry in response.json()]


def test_an_insert_past_queued_walks_the_legal_path_in_one_append(client: TestClient) -> None:
    done = insert(client, USER, status="completed", file_size=10, file_url="https://f/1",
                  expires_at="2030-01-01T00:00:00Z")  # fmt: skip
    assert (done["status"], done["file_size"], done["file_url"]) == ("completed", 10, "https://f/1")
    assert history(client, done["export_id"]) == ["Requested", "ProcessingStarted", "Completed"]
    failed = insert(client, USER, status="failed", error_message="disk full")
    assert failed["error_message"] == "disk full"
    assert history(client, failed["export_id"]) == ["Requested", "ProcessingStarted", "Failed"]
    bare = insert(client, USER, status="expired")
    assert bare["file_url"] is None
    assert history(client, bare["export_id"])[-1] == "Expired"


def test_the_clients_export_id_and_timestamp_are_kept(client: TestClient) -> None:
    export_id = str(uuid.uuid4())
    row = insert(client, USER, export_id=export_id, timestamp="2025-10-31T12:00:00.123Z")
    assert row["export_id"] == export_id
    assert row["timestamp"].startswith("2025-10-31T12:00:00.123")
    assert row["created_at"] > row["timestamp"]
    ours = client.get(f"/api/exports/{export_id}", headers=ADMIN).json()
    moment = datetime.fromisoformat
    assert moment(ours["timestamp"]) == moment(row["timestamp"])
    same = client.get(TABLE, params={"timestamp": f"eq.{row['timestamp']}"},
                      headers=user_headers(USER))  # fmt: skip
    assert same.json() == [row]


def test_patches_are_moves_expiry_changes_and_outcomes(client: TestClient) -> None:
    row = insert(client, USER)
    where = {"export_id": f"eq.{row['export_id']}", "select": "*"}
    headers = user_headers(USER, Prefer=RETURN_ROWS, Accept=OBJECT)

    def patch(body: dict[str, object]) -> dict[str, object]:
        response = client.patch(TABLE, params=where, json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    assert patch({"status": "processing", "updated_at": "2000-01-01T00:00:00Z"})["status"] == (
        "processing"
    )
    patch({"status": "completed", "file_size": 5, "file_url": "https://f/2"})
    later = patch({"expires_at": "2031-01-01T00:00:00Z"})
    assert str(later["expires_at"]).startswith("2031-01-01")
    same = patch({"status": "completed", "file_url": "https://f/2"})  # what it holds: no event
    assert same["updated_at"] == later["updated_at"]
    patch({"expires_at": "2001-01-01T00:00:00Z"})
    assert history(client, row["export_id"]) == [
        "Requested", "ProcessingStarted", "Completed", "ExpiryChanged", "ExpiryChanged",
    ]  # fmt: skip


def test_holds_refuse_delete_and_expiry_and_nothing_is_recorded(client: TestClient) -> None:
    held = insert(client, USER, status="completed", expires_at="2001-01-01T00:00:00Z")
    free = insert(client, USER, status="completed", expires_at="2001-01-01T00:00:00Z")
    placed = client.post(f"/api/exports/{held['export_id']}/holds", json={"matter": "m-1"},
                         headers=ADMIN)  # fmt: skip
    assert placed.status_code == 201, placed.text
    expire = client.patch(TABLE, params={"status": "eq.completed", "select": "id"},
                          json={"status": "expired"}, headers=user_headers(USER))  # fmt: skip
    assert_error(expire, 409, "LDG03")
    gone = client.delete(TABLE, params={"user_id": f"eq.{USER}"}, headers=service_headers())
    assert_error(gone, 409, "LDG03")
    rows = client.get(TABLE, params={"order": "created_at"}, headers=user_headers(USER)).json()
    assert [(r["id"], r["status"]) for r in rows] == [(held["id"], "completed"),
                                                      (free["id"], "completed")]  # fmt: skip
    only_free = client.delete(TABLE, params={"id": f"eq.{free['id']}"}, headers=service_headers())
    assert only_free.status_code == 204
    assert history(client, free["export_id"])[-1] == "Deleted"
    assert [r["id"] for r in client.get(TABLE, headers=user_headers(USER)).json()] == [held["id"]]


def test_a_bulk_insert_is_one_append(client: TestClient) -> None:
    rows = [new_row(USER, conversation_count=n) for n in range(3)]
    created = client.post(TABLE, params={"select": "conversation_count"}, json=rows,
                          headers=user_headers(USER, Prefer=RETURN_ROWS))  # fmt: skip
    assert created.status_code == 201
    assert created.json() == [{"conversation_count": n} for n in range(3)]
    positions = set()
    for row in rows:
        events = client.get(f"/api/exports/{row['export_id']}/history", headers=ADMIN).json()
        positions.add(events[0]["position"])
    assert len(positions) == 3
    again = client.post(TABLE, json=[new_row(USER), rows[1]], headers=user_headers(USER))
    assert rows[1]["export_id"] in assert_error(again, 409, "23505")["details"]
    assert len(client.get(TABLE, headers=user_headers(USER)).json()) == 3


def test_what_a_write_returns_by_prefer(client: TestClient) -> None:
    minimal = client.post(TABLE, json=new_row(USER), headers=user_headers(USER))
    assert (minimal.status_code, minimal.content) == (201, b"")
    located = client.post(TABLE, json=new_row(USER),
                          headers=user_headers(USER, Prefer="return=headers-only"))  # fmt: skip
    assert located.status_code == 201 and located.headers["location"].startswith(
        "/export_logs?id=eq."
    )
    rows = client.get(TABLE, params={"select": "id"}, headers=user_headers(USER)).json()
    assert len(rows) == 2
    moved = client.patch(TABLE, json={"status": "processing"}, headers=user_headers(USER))
    assert (moved.status_code, moved.content) == (204, b"")
    cleared = client.patch(TABLE, json={"status": None}, headers=user_headers(USER))
    assert_error(cleared, 400, "23502")
