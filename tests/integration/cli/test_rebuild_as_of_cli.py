"""``export-ledger rebuild --as-of T --into TABLE``: a snapshot table of export_logs
as it stood at T, for offline audit; bad names and taken tables are refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg

from domain.ledger.application import ExportLedger
from tests.integration.history_helpers import listed_as_of, states_as_of, table_rows
from tests.integration.readmodel_helpers import catch_up, complete, request, run_cli


def _moment() -> str:
    time.sleep(0.005)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.005)
    return at


def test_snapshot_as_of_a_moment(ledger: ExportLedger, database_url: str) -> None:
    url = database_url
    first = request(ledger, "A")
    second = request(ledger, "B")
    at = _moment()
    complete(ledger, first)
    ledger.delete(second, actor="admin")
    third = request(ledger, "A")
    catch_up(url)

    done = run_cli(url, "rebuild", "--as-of", at, "--into", "audit_then")
    assert done.returncode == 0, done.stderr
    assert "2 exports as they stood at" in done.stdout
    when = datetime.fromisoformat(at)
    snapshot = table_rows(url, "audit_then")
    assert set(snapshot) == {first, second}
    assert snapshot == states_as_of(ledger, [first, second, third], when)
    assert snapshot == listed_as_of(url, when)
    assert snapshot[first]["status"] == "queued"

    again = run_cli(url, "rebuild", "--as-of", _moment(), "--into", "audit_then")
    assert again.returncode == 2 and "--replace" in again.stderr
    assert set(table_rows(url, "audit_then")) == {first, second}  # untouched
    replaced = run_cli(url, "rebuild", "--as-of", _moment(), "--into", "audit_then", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert set(table_rows(url, "audit_then")) == {first, third}
    with psycopg.connect(url, autocommit=True) as conn:  # same row-level security as export_logs
        row = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'audit_then'"
        ).fetchone()
    assert row == (True,)


def test_refusals_exit_2_and_write_nothing(database_url: str) -> None:
    url = database_url
    now = datetime.now(UTC).isoformat()
    refused = [
        ("--as-of", now, "--into", "export_logs"),
        ("--as-of", now, "--into", "export_logs", "--replace"),
        ("--as-of", now, "--into", "export_log_versions"),
        ("--as-of", now, "--into", "Robert'); DROP TABLE export_logs;--"),
        ("--as-of", now, "--into", "audit-x"),
        ("--as-of", now),
        ("--into", "audit_x"),
        ("--as-of", "2026-03-03T14:00:00", "--into", "audit_x"),
        ("--as-of", "yesterday", "--into", "audit_x"),
        ("--as-of", now, "--into", "audit_x", "--check"),
        ("--replace",),
    ]
    for args in refused:
        result = run_cli(url, "rebuild", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('audit_x')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('export_logs')").fetchone() != (None,)
