"""RetentionApplied's fold: the read row and every version lose the export's own
personal fields, in every status (deleted exports included); the owner stays. The
follower and the rebuild agree, and verify passes."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from tests.integration.readmodel_helpers import catch_up, complete, live_rows, request
from tests.integration.retention.helpers import retain_later

SHED_CONFIG = {"shed": True}


def versions(url: str, export_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT user_id, config, file_url, error_message, valid_to FROM export_log_versions "
            "WHERE export_id = %s ORDER BY valid_from",
            (export_id,),
        ).fetchall()


def exports(ledger: ExportLedger) -> dict[str, str]:
    found = {name: request(ledger, "A", config={"title": name}) for name in ("q", "c", "f", "d")}
    complete(ledger, found["c"])
    ledger.start_processing(found["f"], actor="worker")
    ledger.fail(found["f"], error_message="disk full at /home/a")
    complete(ledger, found["d"])
    ledger.delete(found["d"], actor="admin", reason="asked")
    return found


def check_shed(url: str, found: dict[str, str]) -> None:
    rows = {r["export_id"]: r for r in live_rows(url).values()}
    assert set(rows) == {found["q"], found["c"], found["f"]}
    for row in rows.values():
        assert row["config"] == SHED_CONFIG and row["user_id"] == "A"
    assert rows[found["c"]]["file_url"] == SHED_TEXT
    assert rows[found["f"]]["error_message"] == SHED_TEXT
    assert rows[found["q"]]["file_url"] is None and rows[found["q"]]["error_message"] is None
    for export_id in found.values():
        every = versions(url, export_id)
        assert every and all(v["config"] == SHED_CONFIG and v["user_id"] == "A" for v in every)
        assert all(v["file_url"] in (None, SHED_TEXT) for v in every)
        assert all(v["error_message"] in (None, SHED_TEXT) for v in every)
    deleted = versions(url, found["d"])
    assert all(v["valid_to"] is not None for v in deleted)  # still out of the table


def test_folded_in_a_later_batch_the_retention_sheds_rows_and_versions(
    ledger: ExportLedger, database_url: str
) -> None:
    found = exports(ledger)
    catch_up(database_url)
    ledger.set_retention(after="1d", basis="last-event", actor="admin")
    assert sorted(retain_later(ledger, database_url).applied) == sorted(found.values())
    catch_up(database_url)
    check_shed(database_url, found)
    check = rebuild(Database(database_url), swap=False, history=True)
    assert check.differences.total == 0, check.differences
    assert verify(Database(database_url)).ok


def test_folded_in_one_batch_or_rebuilt_it_is_the_same(
    ledger: ExportLedger, database_url: str
) -> None:
    found = exports(ledger)
    ledger.set_retention(after="1d", basis="last-event", actor="admin")
    retain_later(ledger, database_url)
    catch_up(database_url)
    check_shed(database_url, found)
    assert rebuild(Database(database_url), history=True).differences.total == 0
    check_shed(database_url, found)
    assert verify(Database(database_url)).ok
