"""The seed's own client against the ledger: its test script call for call, with its
exact payloads (camelCase config, ``user_id`` in the body, an initial status, an
expiry-only update), and no read-your-writes token anywhere."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from domain.sync.rows import SourceRow
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem
from tests.seed_contract import SEED_CONFIG


def iso(delta: timedelta) -> str:
    """``new Date(Date.now() + delta).toISOString()``, as the seed's script writes times."""
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed_create(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": "user-a",
        "format": "jsonl",
        "config": SEED_CONFIG,
        "conversation_count": 42,
    }
    body.update(overrides)
    return body


def test_the_seed_script_call_for_call(client: TestClient) -> None:
    run_seed_script(client, USER_A, ADMIN)


def run_seed_script(
    client: httpx.Client, user: dict[str, str], admin: dict[str, str], user_id: str = "user-a"
) -> None:
    """The seed's test script, in its order, with its payloads; ``user`` is ``user_id``'s
    bearer header, ``admin`` an admin's (the expiry job and the delete)."""
    # 1. create, with the caller's own user_id and the seed's config
    created = client.post("/api/exports", json=seed_create(user_id=user_id), headers=user)
    assert created.status_code == 201, created.text
    log = created.json()
    export_id = log["export_id"]
    assert log["status"] == "queued" and log["config"] == SEED_CONFIG

    # 2. get it at once: no token, no min_position
    got = client.get(f"/api/exports/{export_id}", headers=user)
    assert got.status_code == 200, got.text
    assert got.json()["config"] == SEED_CONFIG

    # 3. a missing export is not found
    assert_problem(client.get("/api/exports/non-existent-uuid", headers=user), 404)

    # 4, 5. processing, then completed with a file that expires in a day
    moved = client.patch(f"/api/exports/{export_id}", json={"status": "processing"}, headers=user)
    assert moved.status_code == 200, moved.text
    done = {
        "status": "completed",
        "file_size": 1024000,
        "file_url": "https://storage.example.com/exports/test.jsonl",
        "expires_at": iso(timedelta(days=1)),
    }
    completed = client.patch(f"/api/exports/{export_id}", json=done, headers=user)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"

    # 6. page 1 of 10: it is there, and total counts at least the rows
    listed = client.get("/api/exports", params={"page": 1, "limit": 10}, headers=user).json()
    assert export_id in [row["export_id"] for row in listed["logs"]]
    assert listed["total"] >= len(listed["logs"])

    # 7. filtered by format and status
    filtered = client.get(
        "/api/exports", params={"format": "jsonl", "status": "completed"}, headers=user
    ).json()
    assert export_id in [row["export_id"] for row in filtered["logs"]]
    assert {(r["format"], r["status"]) for r in filtered["logs"]} == {("jsonl", "completed")}

    # 8. another, created completed as json with test 1's config (whose format is jsonl),
    # then only its expiry set a second in the past
    other = client.post(
        "/api/exports",
        json=seed_create(user_id=user_id, format="json", status="completed"),
        headers=user,
    )
    assert other.status_code == 201, other.text
    other_id = other.json()["export_id"]
    assert other.json()["status"] == "completed" and other.json()["format"] == "json"
    assert other.json()["config"] == SEED_CONFIG
    past = client.patch(
        f"/api/exports/{other_id}", json={"expires_at": iso(-timedelta(seconds=1))}, headers=user
    )
    assert past.status_code == 200, past.text

    # 9. the expiry job expires at least that one
    expired = client.post("/api/exports/expire", headers=admin)
    assert expired.status_code == 200, expired.text
    assert expired.json()["expired"] >= 1
    assert client.get(f"/api/exports/{other_id}", headers=user).json()["status"] == "expired"

    # 10. updating a missing export: not found, naming the id
    missing = client.patch(
        "/api/exports/non-existent-uuid", json={"status": "processing"}, headers=user
    )
    assert "non-existent-uuid" in assert_problem(missing, 404)["detail"]

    # 11. delete, then get: not found
    assert client.delete(f"/api/exports/{export_id}", headers=admin).status_code == 204
    assert_problem(client.get(f"/api/exports/{export_id}", headers=user), 404)


def test_both_config_spellings_and_extra_keys_are_kept_as_sent(api: Api) -> None:
    ours = {"scope": "filtered", "include_metadata": False, "filters": {"quality_score_min": 7.5}}
    theirs = {**SEED_CONFIG, "filters": {"qualityScoreMin": 7.5, "tiers": ["template"]}}
    extra = {**SEED_CONFIG, "conversationIds": ["c1"], "dashboard": {"tab": 3, "pinned": [1, 2]}}
    for config in (ours, theirs, extra):
        created = api.create(config=config)
        assert created["config"] == config
        assert api.get(created["export_id"]).json()["config"] == config


def test_bad_configs_are_422_naming_the_field(api: Api) -> None:
    cases = [
        ({"includeMetadata": "yes"}, ["includeMetadata"]),
        ({"include_metadata": True, "includeMetadata": True}, ["not both"]),
        ({"scope": "some"}, ["scope"]),
        ({"deep": [[[[[[[[[1]]]]]]]]]}, ["deeper"]),
        ({"big": 2**70}, ["64 bits"]),
    ]
    for config, words in cases:
        response = api.client.post("/api/exports", json=seed_create(config=config), headers=USER_A)
        detail = assert_problem(response, 422)["detail"]
        for word in words:
            assert word in detail, (config, detail)


def test_user_id_in_the_body_is_the_caller_or_an_admins_choice(client: TestClient) -> None:
    refused = client.post("/api/exports", json=seed_create(user_id="user-b"), headers=USER_A)
    assert_problem(refused, 403)
    for_b = client.post("/api/exports", json=seed_create(user_id="user-b"), headers=ADMIN)
    assert for_b.status_code == 201, for_b.text
    export_id = for_b.json()["export_id"]
    assert for_b.json()["user_id"] == "user-b"
    assert client.get(f"/api/exports/{export_id}", headers=USER_B).status_code == 200
    history = client.get(f"/api/exports/{export_id}/history", headers=USER_B).json()
    assert history[0]["actor"] == "admin-1"


def test_create_as_completed_records_the_whole_path_in_one_append(client: TestClient) -> None:
    for status, path in [
        ("processing", ["Requested", "ProcessingStarted"]),
        ("completed", ["Requested", "ProcessingStarted", "Completed"]),
        ("failed", ["Requested", "ProcessingStarted", "Failed"]),
        ("expired", ["Requested", "ProcessingStarted", "Completed", "Expired"]),
    ]:
        created = client.post("/api/exports", json=seed_create(status=status), headers=USER_A)
        assert created.status_code == 201, created.text
        export_id = created.json()["export_id"]
        history = client.get(f"/api/exports/{export_id}/history", headers=USER_A).json()
        assert [e["type"] for e in history] == path
        positions = [e["position"] for e in history]
        assert positions == list(range(positions[0], positions[0] + len(path)))
        assert {e["actor"] for e in history} == {"user-a"}
        assert client.get(f"/api/exports/{export_id}", headers=USER_A).json()["status"] == status
    refused = client.post("/api/exports", json=seed_create(status="deleted"), headers=USER_A)
    assert_problem(refused, 422)


def test_an_expiry_only_update_and_its_refusals(api: Api) -> None:
    created = api.create()
    export_id = created["export_id"]
    early = assert_problem(api.patch(export_id, {"expires_at": iso(timedelta(days=1))}), 409)
    assert "completed" in early["detail"]
    api.advance(export_id, "processing", "completed")
    later = iso(timedelta(days=30))
    changed = api.patch(export_id, {"expires_at": later})
    assert changed.status_code == 200, changed.text
    got = api.get(export_id).json()
    assert datetime.fromisoformat(got["expires_at"]) == datetime.fromisoformat(later)
    history = api.client.get(f"/api/exports/{export_id}/history", headers=USER_A).json()
    assert history[-1]["type"] == "ExpiryChanged"
    assert_problem(api.patch(export_id, {"file_url": "https://elsewhere.example.com/x"}), 409)
    assert_problem(api.patch(export_id, {}), 422)
    api.advance(export_id, "expired")
    assert_problem(api.patch(export_id, {"expires_at": later}), 409)


def test_the_root_is_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "/ui"


def test_reads_see_writes_acknowledged_before_them_with_no_token(client: TestClient) -> None:
    """Under a concurrent writer, every read right after an acknowledged command shows
    it: the read waits for the head it saw, not for a position the client sends."""
    stop = threading.Event()
    failures: list[str] = []

    def write_elsewhere() -> None:
        while not stop.is_set():
            response = client.post("/api/exports", json=seed_create(), headers=USER_A)
            if response.status_code != 201:
                failures.append(response.text)

    writer = threading.Thread(target=write_elsewhere, daemon=True)
    writer.start()
    try:
        for _ in range(15):
            created = client.post("/api/exports", json=seed_create(), headers=USER_A)
            export_id = created.json()["export_id"]
            assert client.get(f"/api/exports/{export_id}", headers=USER_A).status_code == 200
            moved = client.patch(
                f"/api/exports/{export_id}", json={"status": "processing"}, headers=USER_A
            )
            assert moved.status_code == 200, moved.text
            listed = client.get(
                "/api/exports", params={"status": "processing", "limit": 200}, headers=USER_A
            ).json()
            assert export_id in [row["export_id"] for row in listed["logs"]]
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not failures


def test_an_eventual_read_does_not_wait(client: TestClient) -> None:
    created = client.post("/api/exports", json=seed_create(), headers=USER_A).json()
    response = client.get(
        f"/api/exports/{created['export_id']}",
        params={"consistency": "eventual"},
        headers=USER_A,
    )
    assert response.status_code in (200, 404)
    assert_problem(
        client.get("/api/exports", params={"consistency": "sometimes"}, headers=USER_A), 422
    )


def test_uuid_ids_work_on_every_route(client: TestClient) -> None:
    export_id = str(uuid.uuid4())
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    row = SourceRow(
        id="17", export_id=export_id, user_id="user-a", timestamp=now - timedelta(days=90),
        format="jsonl", config=SEED_CONFIG, conversation_count=42, file_size=2048,
        status="completed", file_url="https://storage.example.com/exports/old.jsonl",
        expires_at=now + timedelta(days=1), error_message=None, created_at=None, updated_at=None,
    )  # fmt: skip
    assert [r.outcome for r in ledger.sync_rows([row])] == ["created"]
    path = f"/api/exports/{export_id}"
    got = client.get(path, headers=USER_A)
    assert got.status_code == 200, got.text
    assert got.json()["export_id"] == export_id
    assert datetime.fromisoformat(got.json()["timestamp"]) == row.timestamp
    assert client.get(f"{path}/history", headers=USER_A).status_code == 200
    assert client.get(path, params={"version": 1}, headers=USER_A).status_code == 200
    assert client.post(f"{path}/downloads", json={}, headers=USER_A).status_code == 200
    changed = client.patch(path, json={"expires_at": iso(timedelta(days=2))}, headers=USER_A)
    assert changed.status_code == 200, changed.text
    proof = client.get(f"{path}/proof", headers=USER_A)
    assert proof.status_code in (200, 404), proof.text  # 404 until the sealer has sealed it
    assert proof.status_code == 404 or proof.json()["export_id"] == export_id
    assert client.delete(path, headers=ADMIN).status_code == 204
    assert_problem(client.get(path.upper(), headers=USER_A), 404)
