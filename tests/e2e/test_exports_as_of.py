"""GET /api/exports?as_of=T: the list as it stood at a past moment, with the live
list's filters, paging, response shape and row-level security."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem, bearer

# position is left out: the replayed single read does not carry it.
FIELDS = ("export_id", "user_id", "status", "version", "file_size", "updated_at", "created_at")


def moment() -> str:
    """Now, as RFC 3339, between two commands that are a few ms apart."""
    time.sleep(0.005)
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.005)
    return at


def ids(page: dict[str, Any]) -> list[str]:
    return [row["export_id"] for row in page["logs"]]


@pytest.fixture
def story(api: Api) -> dict[str, Any]:
    """A's two exports and B's one, with moments taken between the commands."""
    t0 = moment()
    a1 = api.create(USER_A)["export_id"]
    t1 = moment()
    api.advance(a1, "processing")
    b1 = api.create(USER_B, format="csv")["export_id"]
    t2 = moment()
    api.advance(a1, "completed")
    a2 = api.create(USER_A)["export_id"]
    t3 = moment()
    response = api.client.delete(f"/api/exports/{a1}", headers=ADMIN)
    assert response.status_code == 204
    position = int(response.headers["X-Ledger-Position"])
    t4 = moment()
    return {"a1": a1, "a2": a2, "b1": b1, "t": [t0, t1, t2, t3, t4], "position": position}


def as_of(api: Api, headers: dict[str, str], at: str, **params: Any) -> dict[str, Any]:
    response = api.list(headers, as_of=at, **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_each_moment_lists_what_stood_then(api: Api, story: dict[str, Any]) -> None:
    a1, a2, b1 = story["a1"], story["a2"], story["b1"]
    t0, t1, t2, t3, t4 = story["t"]
    pos = story["position"]
    assert ids(as_of(api, ADMIN, t0, min_position=pos)) == []
    assert ids(as_of(api, ADMIN, t1)) == [a1]
    assert as_of(api, ADMIN, t1)["logs"][0]["status"] == "queued"
    assert ids(as_of(api, ADMIN, t2)) == [b1, a1]
    assert [r["status"] for r in as_of(api, ADMIN, t2)["logs"]] == ["queued", "processing"]
    at_t3 = as_of(api, ADMIN, t3)
    assert ids(at_t3) == [a2, b1, a1] and at_t3["total"] == 3 and at_t3["total_exact"]
    assert at_t3["logs"][2]["status"] == "completed"  # deleted later: still listed at t3
    assert ids(as_of(api, ADMIN, t4)) == [a2, b1]
    live = api.list(ADMIN).json()
    assert as_of(api, ADMIN, t4) == live  # same shape and rows as the live list


def test_rows_match_the_single_export_read_at_the_same_moment(
    api: Api, story: dict[str, Any]
) -> None:
    for at in story["t"]:
        for row in as_of(api, ADMIN, at, min_position=story["position"])["logs"]:
            single = api.get(row["export_id"], ADMIN, as_of=at)
            assert single.status_code == 200, single.text
            assert {k: single.json()[k] for k in FIELDS} == {k: row[k] for k in FIELDS}


def test_users_see_only_their_own_past(api: Api, story: dict[str, Any]) -> None:
    t3 = story["t"][3]
    assert set(ids(as_of(api, USER_A, t3, min_position=story["position"]))) == {
        story["a1"],
        story["a2"],
    }
    assert ids(as_of(api, USER_B, t3)) == [story["b1"]]
    assert ids(as_of(api, bearer("user-c"), t3)) == []
    assert ids(as_of(api, ADMIN, t3, user_id="user-b")) == [story["b1"]]
    assert_problem(api.list(USER_A, as_of=t3, user_id="user-b"), 403)
    assert_problem(api.list({}, as_of=t3), 401)
    assert_problem(api.list({"Authorization": "Bearer nonsense"}, as_of=t3), 401)


def test_filters_and_paging_apply_as_of(api: Api, story: dict[str, Any]) -> None:
    t2, t3 = story["t"][2], story["t"][3]
    pos = story["position"]
    assert ids(as_of(api, ADMIN, t2, status="processing", min_position=pos)) == [story["a1"]]
    assert ids(as_of(api, ADMIN, t3, status="processing")) == []
    assert ids(as_of(api, ADMIN, t3, format="csv")) == [story["b1"]]
    assert ids(as_of(api, ADMIN, t3, date_from=story["t"][2])) == [story["a2"]]
    assert ids(as_of(api, ADMIN, t3, date_to=story["t"][1])) == [story["a1"]]
    first = as_of(api, ADMIN, t3, limit=2)
    assert ids(first) == [story["a2"], story["b1"]] and first["next_cursor"]
    rest = as_of(api, ADMIN, t3, limit=2, cursor=first["next_cursor"])
    assert ids(rest) == [story["a1"]] and rest["next_cursor"] is None
    assert ids(as_of(api, ADMIN, t3, limit=2, page=2)) == [story["a1"]]


def test_a_future_moment_lists_the_current_state(api: Api, story: dict[str, Any]) -> None:
    future = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    live = api.list(ADMIN, min_position=story["position"]).json()
    assert as_of(api, ADMIN, future) == live


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-03-03", "2026-03-03T14:00:00", "2026-13-03T14:00:00Z", "1700000000", ""],
)
def test_a_bad_moment_is_a_422(api: Api, value: str) -> None:
    problem = assert_problem(api.list(USER_A, as_of=value), 422)
    assert "as_of" in str(problem)
