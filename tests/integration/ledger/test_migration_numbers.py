"""The migrations are numbered once each, in the order they always ran.

Five files were renumbered (two numbers had two files each); their order and text are
unchanged, so a database migrated before the renumbering, migrated again, ends with the
same schema as a fresh one and keeps its data, and a further run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.wiring.database import ledger_env, migrate
from domain.ledger.application import ExportLedger
from sql import migration_scripts
from tests import pg
from tests.integration.helpers import connect_as, request
from tests.integration.readmodel_helpers import catch_up

RENUMBERED = {  # today's name: the name it had before
    "0007_logins.sql": "0006_logins.sql",
    "0008_insert_events_function.sql": "0007_insert_events_function.sql",
    "0009_c2sp_checkpoints.sql": "0008_c2sp_checkpoints.sql",
    "0010_legal_holds.sql": "0009_legal_holds.sql",
    "0011_subject_keys.sql": "0009_subject_keys.sql",
}

_SCHEMA = {  # the schema's shape, read from the catalogues (any server version)
    "columns": "SELECT table_name, column_name, data_type, column_default, is_nullable "
    "FROM information_schema.columns WHERE table_schema = 'public'",
    "indexes": "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": "SELECT conrelid::regclass::text AS tbl, conname, "
    "pg_get_constraintdef(oid) AS def FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace",
    "triggers": "SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger "
    "WHERE NOT tgisinternal",
    "functions": "SELECT proname, pg_get_functiondef(oid) AS def FROM pg_proc "
    "WHERE pronamespace = 'public'::regnamespace",
    "policies": "SELECT tablename, policyname, cmd, roles::text, qual, with_check FROM pg_policies",
    "grants": "SELECT table_name, grantee, privilege_type "
    "FROM information_schema.role_table_grants WHERE table_schema = 'public'",
}
_DATA = ("ledger_subject_secret", "export_log_versions", "export_logs", "read_model_tracking")


def schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with connect_as(url) as conn:
        return {
            kind: sorted(tuple(row.values()) for row in conn.execute(text).fetchall())
            for kind, text in _SCHEMA.items()
        }


def data(url: str) -> dict[str, list[str]]:
    with connect_as(url) as conn:
        return {
            table: sorted(str(row) for row in conn.execute(f"SELECT * FROM {table}").fetchall())
            for table in _DATA
        }


def migrate_as_before(url: str) -> None:
    """What migrate() did before the renumbering: the library's tables, then every script
    in the order of its old name."""
    ExportLedger(env=ledger_env(url, role=None, pool_size=1, create_table=True)).close()
    scripts = sorted(migration_scripts(), key=lambda item: RENUMBERED.get(item[0], item[0]))
    with connect_as(url) as conn, conn.transaction():
        for _, script in scripts:
            conn.execute(script.encode())


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    name = pg.new_name("el_numbers")
    pg.create_database(admin_url, name)
    yield pg.with_database(admin_url, name)
    pg.drop(admin_url, name)


def test_every_number_once_and_the_order_kept() -> None:
    names = [name for name, _ in migration_scripts()]
    numbers = [int(re.match(r"(\d{4})_", name).group(1)) for name in names]  # type: ignore[union-attr]
    assert numbers == list(range(1, len(names) + 1))
    before = sorted(RENUMBERED.get(name, name) for name in names)
    assert [RENUMBERED.get(name, name) for name in names] == before


def test_a_database_migrated_before_the_renumbering(empty_url: str, database_url: str) -> None:
    migrate_as_before(empty_url)
    ledger = ExportLedger(env=ledger_env(empty_url))
    try:
        export_id = request(ledger).export_id
        ledger.start_processing(export_id)
    finally:
        ledger.close()
    catch_up(empty_url)
    kept = data(empty_url)
    assert kept["ledger_subject_secret"] and kept["export_log_versions"]

    migrate(empty_url)
    assert schema(empty_url) == schema(database_url)  # the fresh one: migrated once today
    assert data(empty_url) == kept

    migrate(empty_url)
    assert schema(empty_url) == schema(database_url)
    assert data(empty_url) == kept
