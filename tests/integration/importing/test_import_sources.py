"""``export-ledger import`` on sources that are not the seed's table as it should
be: what it refuses to start on (one line, exit 2), a schema-qualified table, rows
with missing values, and the same export twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.import_helpers import (
    change_source,
    event_types,
    run_import,
    seed_source,
    source_rows,
)
from tests.integration.readmodel_helpers import catch_up, rows_by_export_id


@pytest.fixture
def source_url(admin_url: str) -> Iterator[str]:
    yield from seed_source(admin_url, rows=20)


@pytest.mark.parametrize(
    ("source", "table", "message"),
    [
        ("not a url", "export_logs", "bad source database URL"),
        ("postgresql://nobody@127.0.0.1:1/none", "export_logs", "cannot reach the source"),
        (None, "no_such_table", "the source database has no table no_such_table"),
        (None, "a.b.c", "not a table name: 'a.b.c'"),
        (None, "partial", "lacks the seed's columns: file_url, expires_at"),
        (None, "naive", "column expires_at is timestamp without time zone, not timestamp with"),
    ],
)
def test_what_the_import_refuses_to_start_on(
    database_url: str,
    source_url: str,
    tmp_path: Path,
    source: str | None,
    table: str,
    message: str,
) -> None:
    change_source(source_url, "CREATE TABLE partial AS SELECT * FROM export_logs")
    change_source(source_url, "ALTER TABLE partial DROP COLUMN file_url, DROP COLUMN expires_at")
    change_source(source_url, "CREATE TABLE naive AS SELECT * FROM export_logs")
    change_source(source_url, "ALTER TABLE naive ALTER COLUMN expires_at TYPE timestamp")
    result = run_import(database_url, source or source_url, tmp_path, "--table", table)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_schema_qualified_table(database_url: str, source_url: str, tmp_path: Path) -> None:
    change_source(source_url, 'CREATE SCHEMA "Old"')
    change_source(source_url, 'ALTER TABLE export_logs SET SCHEMA "Old"')
    result = run_import(database_url, source_url, tmp_path, "--table", "Old.export_logs")
    assert result.exit_code == 0, result.output
    assert "20 created" in result.stdout


def test_rows_with_missing_values_are_refused_and_the_rest_recorded(
    database_url: str, source_url: str, tmp_path: Path
) -> None:
    change_source(source_url, "CREATE TABLE loose AS SELECT * FROM export_logs")
    for column in ("export_id", "timestamp", "user_id", "status", "conversation_count"):
        change_source(source_url, "INSERT INTO loose SELECT * FROM export_logs LIMIT 1")
        last = "WHERE ctid = (SELECT max(ctid) FROM loose)"
        change_source(source_url, f"UPDATE loose SET export_id = gen_random_uuid() {last}")
        change_source(source_url, f'UPDATE loose SET "{column}" = NULL {last}')
    result = run_import(database_url, source_url, tmp_path, "--table", "loose")
    assert result.exit_code == 0, result.output
    assert "20 created, 0 changed, 0 unchanged, 5 refused" in result.stdout
    for reason in (
        "export_id None is neither a UUID nor an exp_ id",
        "timestamp None is not a time",
        "user_id must be 1 to 200 characters",
        "status None is not a status",
        "conversation_count must be an integer",
    ):
        assert reason in result.stderr


@pytest.mark.parametrize("batch_size", ["1", "100"])
def test_the_same_export_twice_is_recorded_in_its_order(
    database_url: str, source_url: str, tmp_path: Path, batch_size: str
) -> None:
    change_source(source_url, "CREATE TABLE twice AS SELECT * FROM export_logs WHERE false")
    change_source(
        source_url,
        "INSERT INTO twice SELECT * FROM export_logs WHERE status = 'processing' LIMIT 1; "
        "INSERT INTO twice SELECT * FROM twice; "
        "UPDATE twice SET status = 'failed', error_message = 'disk full' "
        "WHERE ctid = (SELECT max(ctid) FROM twice)",
    )
    result = run_import(database_url, source_url, tmp_path, "--table", "twice", "--batch-size",
                        batch_size)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 created, 1 changed, 0 unchanged, 0 refused" in result.stdout
    catch_up(database_url)
    (export_id,) = source_rows(source_url, "twice")
    assert [t for t, _ in event_types(database_url, 0)] == [
        "Imported", "Failed",
    ]  # fmt: skip
    assert rows_by_export_id(database_url)[export_id]["error_message"] == "disk full"


def test_a_report_that_cannot_be_written_is_refused_before_anything_is_recorded(
    database_url: str, source_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "no" / "such" / "dir.jsonl"
    result = run_import(database_url, source_url, tmp_path, "--report", str(report))
    assert result.exit_code == 2, result.output
    assert f"cannot write the report {report}: No such file or directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
