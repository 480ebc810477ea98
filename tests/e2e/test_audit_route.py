"""GET /api/audit/events: admins only, streamed in log order, and checkable
against a signed checkpoint like the CLI's export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from projections.audit import export as audit
from projections.audit.export_check import check_export, read_lines
from projections.tlog.checkpoints import checkpoint
from sql.names import ADMIN_ROLE
from tests.e2e.helpers import ADMIN, USER_A, USER_B, Api, assert_problem
from tests.e2e.test_ledger_routes import sealed

URL = "/api/audit/events"


@pytest.fixture(scope="module")
def history(module_api: Api) -> dict[str, Any]:
    first = module_api.create(USER_A)
    module_api.advance(first["export_id"], "processing", "completed")
    second = module_api.create(USER_B)
    cp = sealed(module_api.client, second["_position"])
    return {"a": first["export_id"], "b": second["export_id"], "checkpoint": cp}


def lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def test_admins_get_every_event_in_log_order(module_client: TestClient, history: Any) -> None:
    response = module_client.get(URL, headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    found = lines(response)
    positions = [r["position"] for r in found]
    assert positions == sorted(positions) and len(found) >= 4
    assert {history["a"], history["b"]} <= {r["export_id"] for r in found}
    assert set(found[0]) == set(audit.COLUMNS)


def test_the_http_export_verifies_against_a_checkpoint(
    module_client: TestClient, module_database_url: str, history: Any
) -> None:
    cp = history["checkpoint"]
    text = module_client.get(f"{URL}?to={cp['position']}", headers=ADMIN).text
    with psycopg.connect(module_database_url, options=f"-c role={ADMIN_ROLE}") as conn:
        signed = checkpoint(conn, cp["tree_size"])
        assert signed is not None
        report = check_export(conn, read_lines(io.StringIO(text)), signed)
        assert report.ok and report.mode == "complete", report.problems.sorted()
        forged = text.replace('"conversation_count":', '"conversation_count":1', 1)
        bad = check_export(conn, read_lines(io.StringIO(forged)), signed)
        assert not bad.ok and bad.problems.sorted()[0].kind == "line"


def test_filters_and_csv(module_client: TestClient, history: Any) -> None:
    mine = lines(module_client.get(f"{URL}?user_id=user-a", headers=ADMIN))
    assert history["a"] in {r["export_id"] for r in mine}
    assert history["b"] not in {r["export_id"] for r in mine}
    done = lines(module_client.get(f"{URL}?type=Completed&from=1", headers=ADMIN))
    assert done and {r["type"] for r in done} == {"Completed"}
    response = module_client.get(f"{URL}?format=csv&to=2", headers=ADMIN)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == audit.COLUMNS and [r[0] for r in rows[1:]] == ["1", "2"]
    empty = module_client.get(f"{URL}?format=csv&user_id=nobody", headers=ADMIN)
    assert empty.text.splitlines() == [",".join(audit.COLUMNS)]
    assert module_client.get(f"{URL}?user_id=nobody", headers=ADMIN).text == ""


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?from=5&to=2", 422),
        ("?from=0", 422),
        ("?to=x", 422),
        ("?type=Nope", 422),
        ("?format=xml", 422),
        ("?colour=red", 422),
    ],
)
def test_bad_queries_are_problems(module_client: TestClient, query: str, status: int) -> None:
    assert_problem(module_client.get(URL + query, headers=ADMIN), status)


@pytest.mark.parametrize(
    ("headers", "status"), [(USER_A, 403), (USER_B, 403), ({}, 401), (ADMIN, 200)]
)
def test_auth_matrix(
    module_client: TestClient, history: Any, headers: dict[str, str], status: int
) -> None:
    response = module_client.get(URL, headers=headers)
    if status == 200:
        assert response.status_code == 200
    else:
        assert_problem(response, status)
