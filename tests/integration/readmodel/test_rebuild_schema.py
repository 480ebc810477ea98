"""A table swapped in by a rebuild is indistinguishable from a migrated one:
same indexes, constraints, row-level security, policies and grants, so later
migrations and rebuilds find what they expect."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from api.wiring.database import migrate
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from tests.integration.readmodel_helpers import catch_up, request, shadow_tables


def schema(url: str) -> dict[str, Any]:
    """export_logs's schema, with any table name in a definition made neutral."""
    with psycopg.connect(url, autocommit=True) as conn:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(query).fetchall()]

        return {
            "columns": rows(
                "SELECT column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_name = 'export_logs' "
                "ORDER BY ordinal_position"
            ),
            "indexes": rows(
                "SELECT indexname, regexp_replace(indexdef, 'ON public\\.\\S+ ', 'ON t ') "
                "FROM pg_indexes WHERE tablename = 'export_logs' ORDER BY 1"
            ),
            "index_count": rows(
                "SELECT count(*) FROM pg_index WHERE indrelid = 'export_logs'::regclass"
            ),
            "constraint_definitions": rows(
                "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'export_logs'::regclass ORDER BY 1, 2"
            ),
            "security": rows(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE oid = 'export_logs'::regclass"
            ),
            "policies": rows(
                "SELECT policyname, permissive, roles::text, cmd, qual, with_check "
                "FROM pg_policies WHERE tablename = 'export_logs' ORDER BY 1"
            ),
            "grants": rows(
                "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'export_logs' ORDER BY 1, 2"
            ),
            "tracking": rows("SELECT table_name FROM read_model_tracking ORDER BY 1"),
        }


def constraint_names(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'export_logs'::regclass ORDER BY 1"
        ).fetchall()
    return [r[0] for r in found]


@pytest.fixture
def migrated(ledger: ExportLedger, database_url: str) -> dict[str, Any]:
    """The schema as migrated, with a few rows folded in."""
    request(ledger, "A")
    request(ledger, "B")
    catch_up(database_url)
    return {"schema": schema(database_url), "constraints": constraint_names(database_url)}


def test_rebuilds_and_migrations_keep_the_schema(
    migrated: dict[str, Any], database_url: str
) -> None:
    for _ in range(2):
        assert rebuild(Database(database_url)).swapped
        assert schema(database_url) == migrated["schema"]
    # Migrating again (every CLI command does) adds no duplicate index.
    migrate(database_url)
    assert schema(database_url) == migrated["schema"]
    assert rebuild(Database(database_url), swap=False).differences.total == 0
    assert shadow_tables(database_url) == []


def test_a_rebuild_keeps_the_constraint_names(migrated: dict[str, Any], database_url: str) -> None:
    rebuild(Database(database_url))
    assert constraint_names(database_url) == migrated["constraints"]
