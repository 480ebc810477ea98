"""An erasure stored before the modules moved (``DataSubject`` was in domain/subjects.py)
still loads: on top of tests/fixtures/stored_events_v1.json, with the pseudonym secret,
erased key and exports it left, the ledger finds the erasure, the projection shows the
subject erased, rebuild agrees and verify passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from domain import topics
from domain.ledger.application import ExportLedger
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from tests.integration.ledger.test_stored_events_v1 import (  # noqa: F401
    insert_stored,
    live_rows,
    stored,
)
from tests.integration.readmodel_helpers import catch_up

FIXTURE = Path(__file__).parents[2] / "fixtures" / "stored_erasure_v1.json"
BOB = "exp_01M8RDYYTF423D7J5T57NY2G0F"


def load_erasure(url: str) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE ledger_subject_secret SET secret = decode(%s, 'hex')",
            (fixture["subject_secret_hex"],),
        )
        for key in fixture["subject_keys"]:
            conn.execute(
                "INSERT INTO subject_keys (subject, key, erased_at) VALUES (%s, NULL, %s)",
                (key["subject"], key["erased_at"]),
            )
        for row in fixture["erased_exports"]:
            conn.execute(
                "INSERT INTO erased_exports (aggregate_id, subject) VALUES (%s, %s)",
                (row["aggregate_id"], row["subject"]),
            )
        insert_stored(conn, fixture["events"])
    return fixture


def test_a_stored_erasure_loads_folds_and_verifies(
    stored: dict[str, Any],  # noqa: F811
    ledger: ExportLedger,
    database_url: str,
) -> None:
    fixture = load_erasure(database_url)
    assert [e["topic"] for e in fixture["events"]] == [topics.ERASED]

    erasure = ledger.erasure_of("bob")
    assert erasure is not None
    assert (erasure.export_ids, erasure.erased_by) == ([BOB], "dpo")
    assert erasure.subject == fixture["subject_keys"][0]["subject"]

    catch_up(database_url)
    rows = {r["export_id"]: r for r in live_rows(database_url)}
    assert rows[BOB]["user_id"] == f"erased:{erasure.subject}"
    assert rows["exp_01M8RDYYV7PJ6N7R01XFDXK9X6"]["user_id"] == "carol"
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted
    report = verify(Database(database_url))
    assert report.ok, report.problems.sorted()

    again = ledger.erase_subject(
        "bob", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    assert not again.erased_now and again.export_ids == [BOB]
