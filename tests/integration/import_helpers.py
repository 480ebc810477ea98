"""Helpers of the import tests: a second database holding the seed's table, the
command run in-process, and the source's rows as the read table must show them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from typer.testing import CliRunner, Result

from api.cli.main import app
from api.wiring.database import create_database
from tests import pg
from tests.integration.readmodel_helpers import catch_up, rows_by_export_id
from tests.seed_table import copy_rows, create_table, seed_rows

runner = CliRunner()
SHOWN = (
    "export_id", "user_id", "timestamp", "format", "config", "conversation_count",
    "file_size", "status", "file_url", "expires_at", "error_message",
)  # fmt: skip
Row = dict[str, Any]


def seed_source(admin_url: str, rows: int = 300) -> Iterator[str]:
    """A second database on the test server, holding the seed's table with ``rows`` rows."""
    name = pg.new_name("el_src")
    create_database(admin_url, name)
    url = pg.with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        create_table(conn, "export_logs")
        copy_rows(conn, "export_logs", seed_rows(rows, random.Random(7)))
    yield url
    pg.drop(admin_url, name)


def run_import(url: str, source: str, tmp_path: Path, *args: str) -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    return runner.invoke(app, ["import", "--from", source, *args], env=env)


def source_rows(source: str, table: str = "export_logs") -> dict[str, Row]:
    with psycopg.connect(source, row_factory=dict_row) as conn:
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return {str(r["export_id"]): r for r in rows}


def shown(row: Row) -> Row:
    """What the read table must show of a source row (ids as text)."""
    return {c: str(row[c]) if c in ("export_id", "user_id") else row[c] for c in SHOWN}


def assert_read_table_shows(url: str, source: str) -> None:
    catch_up(url)
    live = {k: {c: r[c] for c in SHOWN} for k, r in rows_by_export_id(url).items()}
    expected = {k: shown(r) for k, r in source_rows(source).items()}
    assert live == expected


def change_source(source: str, query: str, *params: Any) -> None:
    with psycopg.connect(source) as conn:
        conn.execute(query, params)


def one_of(source: str, status: str) -> str:
    return next(k for k, r in source_rows(source).items() if r["status"] == status)


def event_types(url: str, after: int) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.topic, l.export_id FROM exportledger_events e "
            "JOIN export_logs l ON l.id = e.originator_id "
            "WHERE e.notification_id > %s ORDER BY e.notification_id",
            (after,),
        ).fetchall()
    return [(topic.rsplit(".", 1)[1], export_id) for topic, export_id in rows]
