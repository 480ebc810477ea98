"""``export-ledger import``: the seed's export_logs table, in a second database on the
test server, recorded as events; re-runs, changes in the source, refused rows, a
dry run, and a kill -9 mid-run (what it refuses to start on: test_import_sources.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.wiring.signing import Ed25519Signer
from projections.audit.verify import verify
from projections.db.database import Database
from projections.importing import source_table
from sql import statement
from tests.integration.import_helpers import (
    SHOWN,
    assert_read_table_shows,
    change_source,
    event_types,
    one_of,
    run_import,
    seed_source,
    shown,
    source_rows,
)
from tests.integration.readmodel_helpers import (
    catch_up,
    head,
    kill_hard,
    rows_by_export_id,
    start_cli,
    wait_backends_gone,
    wait_until,
)
from tests.integration.tlog.test_seal import seal_all
from tests.seed_table import copy_rows, seed_row


@pytest.fixture
def source_url(admin_url: str) -> Iterator[str]:
    yield from seed_source(admin_url)


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_the_read_table_shows_the_source_rows_and_verify_passes(
    database_url: str, source_url: str, tmp_path: Path, signer: Ed25519Signer, jobs: str
) -> None:
    result = run_import(database_url, source_url, tmp_path, "--batch-size", "64", "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert "300 rows of export_logs" in result.stdout
    assert "300 created, 0 changed, 0 unchanged, 0 refused" in result.stdout
    assert "importing export_logs: 300 done in" in result.stderr  # the progress, without a tty
    assert ("3 processes" in result.stdout) == (jobs == "3")
    assert head(database_url) == 300  # one Imported event per row
    assert_read_table_shows(database_url, source_url)
    seal_all(database_url, signer, batch=500)
    assert verify(Database(database_url)).ok


def test_a_rerun_records_nothing_new(database_url: str, source_url: str, tmp_path: Path) -> None:
    assert run_import(database_url, source_url, tmp_path).exit_code == 0
    before = head(database_url)
    again = run_import(database_url, source_url, tmp_path)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 changed, 300 unchanged, 0 refused" in again.stdout
    assert head(database_url) == before


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_changes_in_the_source_record_exactly_those_events(
    database_url: str, source_url: str, tmp_path: Path, jobs: str
) -> None:
    assert run_import(database_url, source_url, tmp_path, "--jobs", jobs).exit_code == 0
    catch_up(database_url)
    before = head(database_url)
    finished, extended = one_of(source_url, "processing"), one_of(source_url, "completed")
    later = datetime.now(UTC) + timedelta(days=60)
    change_source(
        source_url,
        "UPDATE export_logs SET status = 'completed', file_size = 99, "
        "file_url = 'https://storage.example.com/x.json', expires_at = %s WHERE export_id = %s",
        later,
        finished,
    )
    change_source(
        source_url, "UPDATE export_logs SET expires_at = %s WHERE export_id = %s", later, extended
    )
    result = run_import(database_url, source_url, tmp_path, "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert "0 created, 2 changed, 298 unchanged, 0 refused" in result.stdout
    catch_up(database_url)
    assert sorted(event_types(database_url, before)) == [  # processes append in any order
        ("Completed", finished),
        ("ExpiryChanged", extended),
    ]
    assert_read_table_shows(database_url, source_url)


def test_rows_the_ledger_cannot_record_are_listed_and_skipped(
    database_url: str, source_url: str, tmp_path: Path
) -> None:
    assert run_import(database_url, source_url, tmp_path).exit_code == 0
    before = head(database_url)
    went_back, new_user = one_of(source_url, "completed"), one_of(source_url, "failed")
    change_source(
        source_url, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", went_back
    )
    change_source(
        source_url, "UPDATE export_logs SET user_id = gen_random_uuid() WHERE export_id = %s",
        new_user,
    )  # fmt: skip
    report = tmp_path / "refused.jsonl"
    result = run_import(database_url, source_url, tmp_path, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "0 created, 0 changed, 298 unchanged, 2 refused" in result.stdout
    assert f"2 rows refused and skipped, listed in {report}" in result.stdout
    refused = {line["export_id"]: line for line in map(json.loads, report.read_text().splitlines())}
    assert set(refused) == {went_back, new_user}
    assert "is completed: cannot become processing" in refused[went_back]["reason"]
    assert "user_id of export" in refused[new_user]["reason"]
    assert refused[went_back]["id"] == str(source_rows(source_url)[went_back]["id"])
    assert head(database_url) == before

    on_stderr = run_import(database_url, source_url, tmp_path)
    assert on_stderr.exit_code == 0
    assert f"(export {went_back}): export {went_back!r} is completed" in on_stderr.stderr
    assert "2 rows refused and skipped, listed above on stderr" in on_stderr.stdout


def test_a_new_row_no_export_can_be_is_refused_and_the_rest_recorded(
    database_url: str, source_url: str, tmp_path: Path
) -> None:
    change_source(
        source_url,
        'UPDATE export_logs SET config = config || \'{"includeMetadata": "yes"}\' '
        "WHERE export_id = %s",
        one_of(source_url, "queued"),
    )
    result = run_import(database_url, source_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "299 created, 0 changed, 0 unchanged, 1 refused" in result.stdout
    assert "config.includeMetadata" in result.stderr


def test_a_dry_run_records_nothing(database_url: str, source_url: str, tmp_path: Path) -> None:
    result = run_import(database_url, source_url, tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing recorded: of 300 rows of export_logs, would be 300 created" in (
        result.stdout
    )
    assert head(database_url) == 0

    assert run_import(database_url, source_url, tmp_path).exit_code == 0
    before = head(database_url)
    change_source(
        source_url, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s",
        one_of(source_url, "queued"),
    )  # fmt: skip
    result = run_import(database_url, source_url, tmp_path, "--dry-run")
    assert "0 created, 1 changed, 299 unchanged, 0 refused" in result.stdout
    assert head(database_url) == before


def test_kill_9_mid_import_leaves_whole_exports_and_a_rerun_finishes(
    admin_url: str, database_url: str, source_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(source_url) as conn:
        rng, now = random.Random(8), datetime.now(UTC)
        copy_rows(conn, "export_logs", (seed_row(rng, now) for _ in range(2700)))
    proc = start_cli(
        database_url, "import", "--from", source_url, "--batch-size", "7", "--jobs", "2",
        app_name="el-test-import", log=tmp_path / "import.log",
    )  # fmt: skip
    wait_until(lambda: head(database_url) > 0, timeout=60)
    assert kill_hard(proc), "the import finished before it could be killed"
    wait_backends_gone(database_url, "el-test-import")  # its processes stop too

    catch_up(database_url)
    live, source = rows_by_export_id(database_url), source_rows(source_url)
    assert 0 < len(live) < len(source)
    for export_id, row in live.items():  # each export has all of its row's events
        assert {c: row[c] for c in SHOWN} == shown(source[export_id])

    result = run_import(database_url, source_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{len(live):,} unchanged" in result.stdout
    assert_read_table_shows(database_url, source_url)


def test_a_source_that_cannot_share_its_snapshot_is_imported_in_one_process(
    database_url: str, source_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(module: str, name: str, **identifiers: Any) -> Any:
        if name == "export_snapshot":  # as a server that exports no snapshot refuses
            return sql.SQL("SELECT pg_export_snapshot() FROM no_such_table")
        return statement(module, name, **identifiers)

    monkeypatch.setattr(source_table, "statement", refusing)
    result = run_import(database_url, source_url, tmp_path, "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "cannot share its snapshot: importing in one process" in result.stderr
    assert "300 created, 0 changed, 0 unchanged, 0 refused" in result.stdout
    assert_read_table_shows(database_url, source_url)
