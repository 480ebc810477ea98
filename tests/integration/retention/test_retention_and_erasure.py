"""Retention and erasure together: a subject erased after some of their exports were shed
reads as erased everywhere, followed or rebuilt; a retention skips an erased subject's
exports; a snapshot as of before a retention shows the export shed; a snapshot made
before a retention or an erasure is shed or erased by its fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.history import snapshot
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from tests.integration.readmodel_helpers import catch_up, complete, live_rows, request
from tests.integration.retention.helpers import retain_later


def _checked(url: str) -> None:
    check = rebuild(Database(url), swap=False, history=True)
    assert check.differences.total == 0, check.differences
    assert verify(Database(url)).ok


def _erase(ledger: ExportLedger, url: str, user_id: str) -> None:
    ledger.erase_subject(
        user_id, actor="dpo", reason=None, exports=ReadModelSubjects(Database(url))
    )
    catch_up(url)


def test_a_subject_erased_after_a_retention_reads_as_erased(
    ledger: ExportLedger, database_url: str
) -> None:
    shed = request(ledger, "alice", config={"title": "alice-secret"})
    complete(ledger, shed)
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    assert retain_later(ledger, database_url).applied == [shed]
    catch_up(database_url)
    _checked(database_url)
    _erase(ledger, database_url, "alice")
    (row,) = live_rows(database_url).values()
    assert row["user_id"].startswith("erased:") and row["config"] == {"erased": True}
    _checked(database_url)


def test_retention_leaves_an_erased_subjects_exports(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = request(ledger, "bob")
    catch_up(database_url)
    _erase(ledger, database_url, "bob")
    ledger.set_retention(after="1d", basis="last-event", actor="admin")
    assert retain_later(ledger, database_url).applied == []
    assert ledger.shed_by(export_id) is None
    _checked(database_url)


def test_a_snapshot_as_of_before_the_retention_shows_it_shed(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = request(ledger, "carol", config={"title": "carol-secret"})
    complete(ledger, export_id)
    before = datetime.now(UTC)
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    retain_later(ledger, database_url)
    snapshot(Database(database_url), "audit_snapshot", before + timedelta(milliseconds=1))
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        rows: list[dict[str, Any]] = conn.execute("SELECT * FROM audit_snapshot").fetchall()
    assert [(r["export_id"], r["config"], r["file_url"]) for r in rows] == [
        (export_id, {"shed": True}, SHED_TEXT)
    ]


def test_a_snapshot_made_before_a_retention_is_shed_by_its_fold(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = request(ledger, "dave", config={"title": "dave-secret"})
    complete(ledger, export_id)
    catch_up(database_url)
    now = datetime.now(UTC)
    snapshot(Database(database_url), "kept_snapshot", now)
    snapshot(Database(database_url), "dropped_snapshot", now)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE dropped_snapshot")
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    retain_later(ledger, database_url)
    catch_up(database_url)
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        rows: list[dict[str, Any]] = conn.execute("SELECT * FROM kept_snapshot").fetchall()
    assert [(r["config"], r["file_url"], r["user_id"]) for r in rows] == [
        ({"shed": True}, SHED_TEXT, "dave")
    ]


def test_a_snapshot_made_before_an_erasure_is_erased_by_its_fold(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = request(ledger, "erin", config={"title": "erin-secret"})
    complete(ledger, export_id)
    catch_up(database_url)
    snapshot(Database(database_url), "erin_snapshot", datetime.now(UTC))
    _erase(ledger, database_url, "erin")
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        rows: list[dict[str, Any]] = conn.execute("SELECT * FROM erin_snapshot").fetchall()
    assert [(r["export_id"], r["config"], r["file_url"]) for r in rows] == [
        (export_id, {"erased": True}, "[erased]")
    ]
    assert rows[0]["user_id"].startswith("erased:")
