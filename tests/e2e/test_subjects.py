"""Erasure over HTTP: admins only, 201 then 200 (a no-op that says so), 409 naming a
hold; afterwards the API, the history and the console show the fields as erased."""

from __future__ import annotations

import base64
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from projections.subject_keys import CACHE_SECONDS
from tests.e2e.console.test_ui_pages import csrf_of, sign_in
from tests.e2e.helpers import ADMIN, POSITION, USER_A, Api, assert_problem, completion

SECRET_URL = "https://storage.example.com/exports/user-a-private.jsonl"


def test_erasure_over_http(api: Api, client: TestClient) -> None:
    export_id = api.create(config={"scope": "all", "note": "user-a private note"})["export_id"]
    api.advance(export_id, "processing")
    assert api.patch(export_id, completion(file_url=SECRET_URL), ADMIN).status_code == 200
    url = "/api/subjects/user-a/erasure"
    assert_problem(client.post(url, headers=USER_A), 403)
    assert_problem(client.post(url, json={"reason": "x", "extra": 1}, headers=ADMIN), 422)

    hold = client.post(f"/api/exports/{export_id}/holds", json={"matter": "M"}, headers=ADMIN)
    refused = assert_problem(client.post(url, headers=ADMIN), 409)
    assert refused["hold_id"] == hold.json()["hold_id"]
    client.delete(f"/api/exports/{export_id}/holds/{hold.json()['hold_id']}", headers=ADMIN)

    erased = client.post(url, json={"reason": "art. 17 request"}, headers=ADMIN)
    assert erased.status_code == 201, erased.text
    body = erased.json()
    assert body["erased_now"] and body["export_ids"] == [export_id]
    assert int(erased.headers[POSITION]) > 0
    again = client.post(url, headers=ADMIN)
    assert again.status_code == 200 and not again.json()["erased_now"]
    assert "erased before" in again.json()["detail"]

    position = int(erased.headers[POSITION])
    eventual = client.get(f"/api/exports/{export_id}?consistency=eventual", headers=ADMIN)
    assert SECRET_URL not in eventual.text  # the erasure answered once the reads showed it
    row = api.get(export_id, ADMIN, min_position=position).json()
    assert row["user_id"] == f"erased:{body['subject']}"
    assert row["file_url"] == "[erased]" and row["config"] == {"erased": True}
    assert api.get(export_id, USER_A).status_code == 404  # no longer theirs by id
    history = client.get(f"/api/exports/{export_id}/history", headers=ADMIN)
    assert history.status_code == 200 and "user-a private" not in history.text
    assert SECRET_URL not in history.text and "[erased]" in history.text
    as_of = api.get(export_id, ADMIN, version=1).json()
    assert as_of["user_id"].startswith("erased:")

    sign_in(client, "admin-1", admin=True)
    page = client.get(f"/ui/exports/{export_id}")
    assert page.status_code == 200
    assert "[erased]" in page.text and SECRET_URL not in page.text
    assert "user-a private" not in page.text
    assert "user-a private" not in client.get("/metrics").text


def test_a_lost_key_is_a_problem_naming_the_subject_never_the_key(
    api: Api, client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    export_id = api.create()["export_id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        subject, key = conn.execute("SELECT subject, key FROM subject_keys").fetchone()  # type: ignore[misc]
        conn.execute("DELETE FROM subject_keys")
    time.sleep(CACHE_SECONDS)  # the process's copy of the key expires (not a timed assertion)
    response = client.get(f"/api/exports/{export_id}/history", headers=ADMIN)
    assert response.status_code == 500
    problem = response.json()
    assert problem["type"].endswith("subject-key-missing") and subject in problem["detail"]
    for text in (response.text, caplog.text):
        assert bytes(key).hex() not in text
        assert base64.b64encode(bytes(key)).decode() not in text


def test_the_consoles_verify_job_counts_erased_subjects(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    erased = client.post("/api/subjects/user-a/erasure", headers=ADMIN)
    assert erased.status_code == 201, erased.text
    api.get(export_id, ADMIN, min_position=int(erased.headers[POSITION]))
    sign_in(client, "admin-1", admin=True)
    page = client.get("/ui/ledger")
    started = client.post(
        "/ui/ledger/jobs", data={"job": "verify", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert started.status_code == 303
    for _ in range(300):
        page = client.get("/ui/ledger")
        if "the ledger matches its events" in page.text:
            break
        time.sleep(0.1)
    assert "the ledger matches its events" in page.text
    assert "1 data subjects erased" in page.text  # as verify prints it
