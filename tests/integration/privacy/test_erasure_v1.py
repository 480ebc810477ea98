"""Erasing a subject whose events were stored before fields were sealed (the clear
ones of tests/fixtures/stored_events_v1.json): every derived view shows their fields
as erased, rebuild agrees, verify passes and counts the clear copies that remain."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.privacy import ERASED_TEXT
from projections.audit.verify import verify
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects, privacy_counts
from sql.names import ADMIN_ROLE
from tests.integration.ledger.test_stored_events_v1 import live_rows, stored  # noqa: F401
from tests.integration.readmodel_helpers import catch_up

BOB = "exp_01M8RDYYTF423D7J5T57NY2G0F"


def test_erasing_a_subject_of_clear_events(
    stored: dict[str, Any],  # noqa: F811
    ledger: ExportLedger,
    database_url: str,
) -> None:
    catch_up(database_url)
    erasure = ledger.erase_subject(
        "bob", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    assert erasure.export_ids == [BOB]
    catch_up(database_url)
    rows = {r["export_id"]: r for r in live_rows(database_url)}
    assert rows[BOB]["user_id"] == f"erased:{erasure.subject}"
    assert rows[BOB]["config"] == {"erased": True} and rows[BOB]["file_url"] == ERASED_TEXT
    assert rows["exp_01M8RDYYV7PJ6N7R01XFDXK9X6"]["user_id"] == "carol"
    state = ledger.get(BOB)
    assert state.user_id.startswith("erased:") and state.file_url == ERASED_TEXT
    assert all(e.actor != "bob" for e in ledger.history(BOB))
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted
    report = verify(Database(database_url))
    assert report.ok, report.problems.sorted()
    with psycopg.connect(database_url, options=f"-c role={ADMIN_ROLE}") as conn:
        subjects, clear = privacy_counts(conn)
    bobs = [e for e in stored["events"] if e["originator_id"] == str(aggregate_id(BOB))]
    assert (subjects, clear) == (1, len(bobs)) and clear > 0
