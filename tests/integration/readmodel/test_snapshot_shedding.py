"""Snapshot tables (``rebuild --as-of --into``) are listed when written, and a
retention sheds its exports' fields from every one of them that still exists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT, shed_value
from projections.db.database import Database
from projections.readmodel.history import shed_from_snapshots, snapshot
from tests.integration.readmodel_helpers import catch_up, complete, request

COLUMNS = "export_id, config, file_url, error_message, user_id, status"


def _rows(db: Database, table: str) -> dict[str, tuple[Any, ...]]:
    with db.owner() as conn:
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(COLUMNS), sql.Identifier(table))
        rows = conn.execute(query).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_a_retention_sheds_from_every_snapshot_table_still_there(
    ledger: ExportLedger, database_url: str
) -> None:
    db = Database(database_url)
    shed = request(ledger, "A", config={"note": "personal"})
    complete(ledger, shed)
    kept = request(ledger, "B", config={"note": "stays"})
    catch_up(database_url)
    now = datetime.now(UTC)
    for table in ("audit_one", "audit_two", "audit_gone"):
        snapshot(db, table, now)
    snapshot(db, "audit_two", now, replace=True)  # listed once, written twice
    with db.owner() as conn:
        conn.execute("DROP TABLE audit_gone")
        listed = conn.execute("SELECT table_name FROM snapshot_tables ORDER BY 1").fetchall()
    assert [r[0] for r in listed] == ["audit_gone", "audit_one", "audit_two"]

    with db.projector() as conn, conn.transaction():
        changed = shed_from_snapshots(conn, [aggregate_id(shed)])
    assert changed == 2  # one row in each table left

    for table in ("audit_one", "audit_two"):
        rows = _rows(db, table)
        assert rows[shed] == (shed_value("config"), SHED_TEXT, None, "A", "completed")
        assert rows[kept] == ({"note": "stays"}, None, None, "B", "queued")


def test_nothing_to_shed_touches_nothing(ledger: ExportLedger, database_url: str) -> None:
    db = Database(database_url)
    request(ledger, "A")
    catch_up(database_url)
    snapshot(db, "audit_one", datetime.now(UTC))
    with db.projector() as conn:
        assert shed_from_snapshots(conn, []) == 0
        assert shed_from_snapshots(conn, [aggregate_id("exp_unknown")]) == 0
