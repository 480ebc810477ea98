"""Retention end to end over HTTP: a policy set by an admin, a run, and then no read
route and no table of the database shows the shed values in the clear (the events
hold them sealed); a held export keeps them and is listed; a shed export refuses a hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.wiring.database import open_ledger
from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT
from projections.db.database import Database
from projections.readmodel.retention import StoredRetentionCandidates
from tests.e2e.helpers import ADMIN, USER_A, Api, assert_problem, completion

SECRET_URL = "https://storage.example.com/exports/alice-very-private-{}.jsonl"
SECRET_TITLE = "alice-private-title-{}"


@pytest.fixture
def ledger(database_url: str) -> Iterator[ExportLedger]:
    app = open_ledger(Database(database_url))
    yield app
    app.close()


def _every_table_as_text(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )]  # fmt: skip
        texts = [
            str(row[0])
            for name in names
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(name))
            )
        ]
    return "\n".join(texts)


def _shed_export(api: Api, tag: str) -> str:
    config = {"scope": "all", "title": SECRET_TITLE.format(tag)}
    export_id: str = api.create(config=config)["export_id"]
    api.advance(export_id, "processing")
    done = api.patch(export_id, completion(file_url=SECRET_URL.format(tag)), ADMIN)
    assert done.status_code == 200, done.text
    return export_id


def test_nothing_shows_the_shed_values_after_a_retention(
    api: Api, client: TestClient, ledger: ExportLedger, database_url: str
) -> None:
    shed, held = _shed_export(api, "shed"), _shed_export(api, "held")
    placed = client.post(f"/api/exports/{held}/holds", json={"matter": "M-1"}, headers=ADMIN)
    assert placed.status_code == 201, placed.text
    made = client.post("/api/retention", json={"after": "1h", "from": "completion"}, headers=ADMIN)
    assert made.status_code == 201, made.text

    later = datetime.now(UTC) + timedelta(hours=2)
    run = ledger.retain(StoredRetentionCandidates(Database(database_url)), now=later)
    assert run.applied == [shed] and [h.export_id for h in run.held] == [held]

    deadline = time.monotonic() + 30
    while api.get(shed).json()["file_url"] != SHED_TEXT and time.monotonic() < deadline:
        time.sleep(0.05)
    body = api.get(shed).json()
    assert (body["file_url"], body["config"], body["status"]) == (
        SHED_TEXT, {"shed": True}, "completed",
    )  # fmt: skip
    assert api.get(held).json()["file_url"] == SECRET_URL.format("held")
    listed = api.list(USER_A).text
    tables = _every_table_as_text(database_url)
    for shown in (listed, tables):
        assert SECRET_URL.format("held") in shown and SECRET_TITLE.format("held") in shown
        assert SECRET_URL.format("shed") not in shown
        assert SECRET_TITLE.format("shed") not in shown
    problem = assert_problem(
        client.post(f"/api/exports/{shed}/holds", json={"matter": "M-2"}, headers=ADMIN), 409
    )
    assert "place a legal hold" in problem["detail"]
    shown = client.get(f"/api/retention/exports/{shed}", headers=ADMIN).json()
    assert shown["shed_by"] == made.json()["policy_id"]
