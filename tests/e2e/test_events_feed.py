"""GET /api/events: CloudEvents as JSON lines for admins and auditors, paged by a cursor
in the Link header, with its filters; a cursor ahead of the head or a bad parameter is a
422 problem; an auditor reads but never writes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi.testclient import TestClient

from api.wiring.auth import issue_token
from tests.e2e.helpers import ADMIN, SECRET, USER_A, USER_B, Api, assert_problem, export_body
from tests.e2e.test_ledger_routes import sealed

URL = "/api/events"
AUDITOR = {"Authorization": f"Bearer {issue_token(SECRET, 'auditor-1', auditor=True)}"}


@pytest.fixture(scope="module")
def history(module_api: Api) -> dict[str, Any]:
    first = module_api.create(USER_A)
    module_api.advance(first["export_id"], "processing", "completed")
    second = module_api.create(USER_B)
    checkpoint = sealed(module_api.client, second["_position"])
    third = module_api.create(USER_A)
    return {"a": first["export_id"], "b": second["export_id"], "c": third["export_id"],
            "checkpoint": checkpoint}  # fmt: skip


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def next_link(response: Any) -> str:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["link"])
    assert found, response.headers["link"]
    return found[1]


def read_all(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every page, following rel=next until a page comes back empty."""
    events: list[dict[str, Any]] = []
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = lines(response)
        if not page:
            return events
        events.extend(page)
        url = next_link(response)


def test_auditors_and_admins_read_cloudevents(module_client: TestClient, history: Any) -> None:
    for headers in (AUDITOR, ADMIN):
        response = module_client.get(URL, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for line in response.text.splitlines():
            event = JSONFormat().read(None, line)
            assert isinstance(event, CloudEvent) and event.get_extension("leafhash")
        found = lines(response)
        assert [int(e["id"]) for e in found] == sorted(int(e["id"]) for e in found)
        assert {history["a"], history["b"], history["c"]} <= {e["subject"] for e in found}
        assert "user-a" not in response.text and "user-b" not in response.text


def test_pages_follow_the_link_without_gaps_or_repeats(
    module_client: TestClient, history: Any
) -> None:
    whole = lines(module_client.get(f"{URL}?limit=1000", headers=ADMIN))
    paged = read_all(module_client, f"{URL}?limit=2", AUDITOR)
    assert paged == whole
    last = module_client.get(f"{URL}?after={whole[-1]['id']}", headers=ADMIN)
    assert last.text == "" and next_link(last) == f"{URL}?after={whole[-1]['id']}"


def test_filters(module_client: TestClient, history: Any) -> None:
    requested = read_all(module_client, f"{URL}?type=export.requested&limit=1", ADMIN)
    assert {e["type"] for e in requested} == {"export.requested"}
    both = read_all(module_client, f"{URL}?type=export.requested&type=export.completed", ADMIN)
    assert {e["type"] for e in both} == {"export.requested", "export.completed"}
    mine = read_all(module_client, f"{URL}?user_id=user-b", ADMIN)
    assert {e["subject"] for e in mine} == {history["b"]}
    sealed_only = read_all(module_client, f"{URL}?sealed=true&limit=3", AUDITOR)
    assert sealed_only and all("leafindex" in e for e in sealed_only)
    assert int(sealed_only[-1]["id"]) <= history["checkpoint"]["position"]
    assert history["c"] not in {e["subject"] for e in sealed_only}


def test_personal_fields_are_opened_for_admins_only(
    module_client: TestClient, history: Any
) -> None:
    opened = lines(module_client.get(f"{URL}?personal=true&limit=1000", headers=ADMIN))
    first = next(e for e in opened if e["subject"] == history["a"])
    assert first["data"]["user_id"] == "user-a" and "withheld" not in first["data"]
    refused = module_client.get(f"{URL}?personal=true", headers=AUDITOR)
    assert_problem(refused, 403)


@pytest.mark.parametrize(
    "query",
    ["after=999999999", "after=-1", "limit=0", "limit=1001", "type=export.claimed",
     "sealed=maybe", "user_id=", "colour=red"],
)  # fmt: skip
def test_bad_queries_are_422_problems(module_client: TestClient, history: Any, query: str) -> None:
    problem = assert_problem(module_client.get(f"{URL}?{query}", headers=ADMIN), 422)
    if query.startswith("after=9"):
        assert "ahead of the log's head" in problem["detail"]


def test_users_may_not_read_the_feed_and_auditors_may_not_write(
    module_client: TestClient, history: Any
) -> None:
    assert_problem(module_client.get(URL, headers=USER_A), 403)
    assert_problem(module_client.get(URL), 401)
    refused = module_client.post("/api/exports", json=export_body(), headers=AUDITOR)
    assert_problem(refused, 403)
    assert module_client.get("/api/exports", headers=AUDITOR).status_code == 200
