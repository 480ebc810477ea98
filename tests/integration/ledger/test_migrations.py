"""migrate() is idempotent and safe to run concurrently, and never touches events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.wiring.database import migrate
from domain.ledger.application import ExportLedger
from sql import migration_scripts
from tests import pg
from tests.integration.helpers import EVENTS_TABLE, connect_as, request, run_together, stored_rows


def _guards(url: str) -> dict[str, Any]:
    with connect_as(url) as conn:
        triggers = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
            "ORDER BY tgname",
            (EVENTS_TABLE,),
        ).fetchall()
        grants = conn.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = %s AND grantee LIKE 'export_ledger_%%' "
            "ORDER BY grantee, privilege_type",
            (EVENTS_TABLE,),
        ).fetchall()
    return {"triggers": [t["tgname"] for t in triggers], "grants": grants}


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    name = pg.new_name("el_empty")
    pg.create_database(admin_url, name)
    yield pg.with_database(admin_url, name)
    pg.drop(admin_url, name)


def test_migrating_again_keeps_events_and_guards(ledger: ExportLedger, database_url: str) -> None:
    state = request(ledger)
    ledger.start_processing(state.export_id)
    rows, guards = stored_rows(database_url), _guards(database_url)
    assert len(guards["triggers"]) == 4  # the three guards, and the retention key trigger

    applied = migrate(database_url)

    assert applied == [name for name, _ in migration_scripts()]
    assert stored_rows(database_url) == rows
    assert _guards(database_url) == guards
    assert ledger.fail(state.export_id, error_message="x").version == 3


def test_concurrent_migrations_of_a_new_database(empty_database_url: str) -> None:
    results = run_together(*(lambda: migrate(empty_database_url) for _ in range(3)))

    expected = [name for name, _ in migration_scripts()]
    assert results == [expected] * 3, results
    assert len(_guards(empty_database_url)["triggers"]) == 4
    with connect_as(empty_database_url) as conn:
        count = conn.execute(f"SELECT count(*) AS n FROM {EVENTS_TABLE}").fetchone()
    assert count == {"n": 0}
