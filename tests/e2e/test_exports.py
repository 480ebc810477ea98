"""Requesting, reading and listing exports: success and error paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.e2e.helpers import (
    ADMIN,
    POSITION,
    USER_A,
    USER_B,
    Api,
    assert_problem,
    export_body,
)


def test_idempotency_key_returns_the_same_export(api: Api, client: TestClient) -> None:
    headers = {**USER_A, "Idempotency-Key": "order-42"}
    first = client.post("/api/exports", json=export_body(), headers=headers)
    again = client.post("/api/exports", json=export_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["export_id"] == again.json()["export_id"]
    assert int(again.headers[POSITION]) >= int(first.headers[POSITION])
    other_user = client.post(
        "/api/exports", json=export_body(), headers={**USER_B, **{"Idempotency-Key": "order-42"}}
    )
    assert other_user.json()["export_id"] != first.json()["export_id"]
    page = api.list(min_position=other_user.headers[POSITION]).json()
    assert page["total"] == 1


def test_idempotency_key_reused_with_another_body_is_a_conflict(client: TestClient) -> None:
    headers = {**USER_A, "Idempotency-Key": "order-43"}
    assert client.post("/api/exports", json=export_body(), headers=headers).status_code == 201
    response = client.post("/api/exports", json=export_body(format="csv"), headers=headers)
    problem = assert_problem(response, 409)
    assert "order-43" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (export_body(colour="red"), "body.colour"),
        (export_body(conversation_count="5"), "body.conversation_count"),
        (export_body(conversation_count=4.5), "body.conversation_count"),
        (export_body(conversation_count=-1), "body.conversation_count"),
        (export_body(conversation_count=10**12), "body.conversation_count"),
        (export_body(format="xml"), "body.format"),
        (export_body(config={"scope": "some"}), "body.config"),
        (export_body(config={"filters": {"quality_score_min": 11}}), "body.config"),
        (export_body(config={"include_metadata": 1}), "body.config"),
        (export_body(config={"filters": {"quality_score_max": False}}), "body.config"),
        (export_body(config={"filters": {"search_query": "a\x00b"}}), "body"),
        ({"format": "json", "config": {}}, "body.conversation_count"),
        ([1, 2], "body"),
    ],
)
def test_create_rejects_bad_bodies(api: Api, client: TestClient, body: object, field: str) -> None:
    problem = assert_problem(client.post("/api/exports", json=body, headers=USER_A), 422)
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert api.list(ADMIN).json()["total"] == 0  # nothing was written


def test_lone_surrogates_are_refused(api: Api, client: TestClient) -> None:
    body = b'{"format": "json", "config": {"filters": {"search_query": "a\\ud800"}}, '
    headers = {**USER_A, "Content-Type": "application/json"}
    response = client.post(
        "/api/exports", content=body + b'"conversation_count": 1}', headers=headers
    )
    assert "Unicode" in assert_problem(response, 422)["detail"]
    assert api.list(ADMIN).json()["total"] == 0


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/api/exports",
        content=b'{"format": "json",',
        headers={**USER_A, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_oversized_bodies_are_refused_before_parsing(api: Api, client: TestClient) -> None:
    huge = export_body(config={"conversation_ids": ["c" * 100] * 1000})
    response = client.post("/api/exports", json=huge, headers=USER_A)
    assert_problem(response, 413)
    chunks = (b'{"format": "json", "padding": "' + b"x" * 70_000 + b'"}',)
    streamed = client.post(
        "/api/exports",
        content=iter(chunks),
        headers={**USER_A, "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    assert api.list(ADMIN).json()["total"] == 0


def test_reading_an_export_at_a_version_or_moment(api: Api) -> None:
    created = api.create()
    position = api.advance(created["export_id"], "processing", "completed", headers=USER_A)
    first = api.get(created["export_id"], version=1)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "queued"
    assert first.json()["download_count"] == 0
    now = api.get(created["export_id"], as_of=datetime.now(UTC).isoformat())
    assert now.json()["status"] == "completed" and now.json()["version"] == 3
    before = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert (
        "did not exist"
        in assert_problem(api.get(created["export_id"], as_of=before), 404)["detail"]
    )
    assert_problem(api.get(created["export_id"], version=9), 404)
    assert_problem(api.get(created["export_id"], version=1, as_of=before), 422)
    assert_problem(api.get(created["export_id"], as_of="2026-03-03T14:00:00"), 422)
    assert_problem(api.get(created["export_id"], as_of="yesterday"), 422)
    assert_problem(api.get(created["export_id"], version=0), 422)
    assert api.get(created["export_id"], min_position=position).json()["status"] == "completed"


def test_far_edge_timestamps_are_clamped_not_errors(api: Api) -> None:
    created = api.create()
    early = api.get(created["export_id"], as_of="0001-01-01T00:00:00+05:00")
    assert_problem(early, 404)
    late = api.get(created["export_id"], as_of="9999-12-31T23:59:59-05:00")
    assert late.status_code == 200, late.text


def test_paging_by_page_and_by_cursor(api: Api) -> None:
    ids = [api.create()["export_id"] for _ in range(5)]
    newest_first = list(reversed(ids))
    position = api.create(headers=USER_B)["_position"]
    page2 = api.list(page=2, limit=2, min_position=position).json()
    assert [log["export_id"] for log in page2["logs"]] == newest_first[2:4]
    assert page2["total"] == 5 and page2["page"] == 2 and page2["limit"] == 2
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.list(**params).json()
        seen += [log["export_id"] for log in page["logs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first


def test_list_filters_by_date_and_user(api: Api) -> None:
    before = datetime.now(UTC)
    mine = api.create()["export_id"]
    position = api.create(headers=USER_B)["_position"]
    after = datetime.now(UTC)
    params = {"date_from": before.isoformat(), "date_to": after.isoformat()}
    assert api.list(min_position=position, **params).json()["total"] == 1
    assert api.list(date_from=after.isoformat()).json()["total"] == 0
    by_admin = api.list(ADMIN, user_id="user-a").json()
    assert [log["export_id"] for log in by_admin["logs"]] == [mine]
    assert api.list(ADMIN).json()["total"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"page": 0},
        {"status": "deleted"},
        {"format": "pdf"},
        {"date_from": "not a date"},
        {"cursor": "garbage!"},
        {"cursor": "MjAyNg", "page": 2},
        {"min_position": -1},
    ],
)
def test_list_rejects_bad_parameters(api: Api, params: dict[str, object]) -> None:
    problem = assert_problem(api.list(**params), 422)
    assert problem["errors"]


def test_user_id_filter_is_for_admins(api: Api) -> None:
    assert_problem(api.list(user_id="user-a"), 403)


def test_unknown_query_parameters_are_refused(api: Api, client: TestClient) -> None:
    problem = assert_problem(api.list(colour="red"), 422)
    assert problem["errors"][0]["field"] == "query.colour"
    assert_problem(client.get("/healthz?verbose=1"), 422)
    assert api.list(status="queued", min_position=0).status_code == 200


@pytest.mark.parametrize("moment", ["0", "0.5", "1700000000", "2026-03-03", "2026-02-30T00:00:00Z"])
def test_timestamps_must_be_rfc3339(api: Api, moment: str) -> None:
    assert_problem(api.list(date_to=moment), 422)
    body = export_body(config={"filters": {"date_from": 0}})
    assert_problem(api.client.post("/api/exports", json=body, headers=USER_A), 422)


def test_total_stops_counting_at_the_cap(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(4):
        position = api.create()["_position"]
    exact = api.list(min_position=position).json()
    assert (exact["total"], exact["total_exact"]) == (4, True)
    monkeypatch.setattr("projections.reads.read_store.TOTAL_CAP", 4)
    at_cap = api.list().json()
    assert (at_cap["total"], at_cap["total_exact"]) == (4, True)
    monkeypatch.setattr("projections.reads.read_store.TOTAL_CAP", 3)
    capped = api.list(limit=2).json()
    assert (capped["total"], capped["total_exact"]) == (3, False)
    assert len(capped["logs"]) == 2 and capped["next_cursor"] is not None
