"""What the follow refuses to start or go on with (one line, exit 2), the hostile changes
it refuses and goes on past (diverged exports, listed in ``status``), and
``import --drop-slot``."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import Result

from api.cli.main import app
from tests.integration.import_helpers import run_import, runner
from tests.integration.importing.test_live_sync import (
    assert_read_table_equals_source,
    complete,
    execute,
    follow,
    insert_queued,
    topics,
)
from tests.integration.logical_source import (
    new_source_database,
    source_binaries,
    source_cluster,
)

BIN = source_binaries()
pytestmark = pytest.mark.skipif(BIN is None, reason="no PostgreSQL server programs")


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output


def follow_once(url: str, source: str, tmp_path: Path, *args: str) -> Result:
    return run_import(url, source, tmp_path, "--follow", "--until-idle", "--jobs", "1", *args)


def test_wal_level_replica_is_refused(database_url: str, tmp_path: Path) -> None:
    assert BIN is not None
    with source_cluster(BIN, wal_level="replica") as server:
        source = new_source_database(server)
        result = follow_once(database_url, source, tmp_path)
    refused(result, "the source's wal_level is replica: live sync needs wal_level = logical")


def test_a_login_without_replication_is_refused(
    database_url: str, source: str, tmp_path: Path
) -> None:
    execute(source, "CREATE ROLE plain_login LOGIN NOREPLICATION")
    execute(source, "ALTER TABLE export_logs OWNER TO plain_login")
    plain = source.replace("postgresql://postgres@", "postgresql://plain_login@")
    refused(
        follow_once(database_url, plain, tmp_path), "may not replicate: it needs the REPLICATION"
    )


def test_a_dropped_publication_is_refused(database_url: str, source: str, tmp_path: Path) -> None:
    follow(database_url, source, tmp_path)
    execute(source, "DROP PUBLICATION export_ledger_export_logs")
    refused(
        follow_once(database_url, source, tmp_path),
        "publication export_ledger_export_logs was dropped",
    )


def test_a_table_without_a_key_on_id_is_refused(
    database_url: str, source: str, tmp_path: Path
) -> None:
    execute(source, "ALTER TABLE export_logs DROP CONSTRAINT export_logs_pkey")
    refused(
        follow_once(database_url, source, tmp_path),
        "has no primary key (or replica identity) on id",
    )


def test_hostile_changes_are_refused_listed_and_the_follow_goes_on(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    backwards, renamed, fine = insert_queued(source), insert_queued(source), insert_queued(source)
    complete_path = "UPDATE export_logs SET status = 'processing' WHERE export_id = %s"
    execute(source, complete_path, backwards)
    complete(source, backwards)
    follow(database_url, source, tmp_path)
    execute(source, "UPDATE export_logs SET status = 'queued' WHERE export_id = %s", backwards)
    new_id = str(uuid.uuid4())
    execute(source, "UPDATE export_logs SET export_id = %s WHERE export_id = %s", new_id, renamed)
    execute(source, complete_path, fine)
    result = follow(database_url, source, tmp_path)
    assert "no legal lifecycle move leads there" in result.stderr
    assert "export_id of source row" in result.stderr and "is never rewritten" in result.stderr
    assert topics(database_url, backwards) == ["Imported", "ProcessingStarted", "Completed"]
    assert topics(database_url, renamed) == ["Imported"]
    assert topics(database_url, new_id) == []
    assert topics(database_url, fine) == ["Imported", "ProcessingStarted"]
    env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    status = runner.invoke(app, ["status"], env=env)
    assert status.exit_code == 0, status.output
    assert "2 diverged exports" in status.stdout
    assert backwards in status.stdout and renamed in status.stdout

    # A later accepted change of a diverged export mends it.
    complete(source, backwards)
    follow(database_url, source, tmp_path)
    with psycopg.connect(database_url) as conn:
        left = {r[0] for r in conn.execute("SELECT export_id FROM sync_diverged").fetchall()}
    assert left == {renamed}


def test_a_column_type_the_follow_cannot_read_stops_it(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    execute(source, "ALTER TABLE export_logs ALTER COLUMN conversation_count TYPE numeric")
    insert_queued(source)
    refused(follow_once(database_url, source, tmp_path), "column conversation_count has a type")


def test_drop_slot_removes_the_slot_and_its_publication(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    insert_queued(source)
    result = run_import(database_url, source, tmp_path, "--drop-slot")
    assert result.exit_code == 0, result.output
    with psycopg.connect(source) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
    follow(database_url, source, tmp_path)  # a new slot: the rows are imported again
    assert_read_table_equals_source(database_url, source)


def test_a_slot_past_the_stored_position_means_lost_changes(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    insert_queued(source)
    with psycopg.connect(source, autocommit=True) as conn:  # someone consumes the change
        conn.execute(
            "SELECT count(*) FROM pg_logical_slot_get_binary_changes('export_ledger_export_logs',"
            " NULL, NULL, 'proto_version', '1', 'publication_names', 'export_ledger_export_logs')"
        )
    result = follow_once(database_url, source, tmp_path)
    refused(result, "is past the ledger's stored position: changes were lost")


def test_a_dropped_slot_means_lost_changes(database_url: str, source: str, tmp_path: Path) -> None:
    follow(database_url, source, tmp_path)
    execute(source, "SELECT pg_drop_replication_slot('export_ledger_export_logs')")
    refused(follow_once(database_url, source, tmp_path), "has no slot export_ledger_export_logs")


def test_a_slot_the_ledger_did_not_make_is_left_alone(
    database_url: str, source: str, tmp_path: Path
) -> None:
    execute(source, "SELECT pg_create_logical_replication_slot('theirs', 'pgoutput')")
    result = follow_once(database_url, source, tmp_path, "--slot", "theirs")
    refused(result, "already has a slot theirs that this ledger did not make")
    with psycopg.connect(source) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (1,)


def test_follow_refuses_a_dry_run(database_url: str, source: str, tmp_path: Path) -> None:
    refused(follow_once(database_url, source, tmp_path, "--dry-run"), "--dry-run cannot follow")


def test_an_initial_import_that_fails_leaves_no_slot(
    database_url: str, source: str, tmp_path: Path
) -> None:
    insert_queued(source)
    result = follow_once(database_url, source, tmp_path, "--report", "/nonexistent/dir/report")
    refused(result, "cannot write the report /nonexistent/dir/report")
    with psycopg.connect(source) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sync_positions").fetchone() == (0,)


def test_changes_of_an_erased_subject_are_refused_and_the_follow_goes_on(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    erased, kept = insert_queued(source), insert_queued(source)
    follow(database_url, source, tmp_path)
    with psycopg.connect(source) as conn:
        row = conn.execute("SELECT user_id FROM export_logs WHERE export_id = %s", (erased,))
        (user_id,) = row.fetchone() or (None,)
    env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    erasure = runner.invoke(app, ["erase", str(user_id)], env=env)
    assert erasure.exit_code == 0, erasure.output
    for export_id in (erased, kept):
        execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s",
                export_id)  # fmt: skip
    again = str(uuid.uuid4())  # a new export of the erased subject: nothing can seal it
    execute(
        source,
        "INSERT INTO export_logs (export_id, user_id, format, config, conversation_count, status)"
        " VALUES (%s, %s, 'json', '{}', 1, 'queued')",
        again, user_id,
    )  # fmt: skip
    result = follow(database_url, source, tmp_path)
    assert f"(export {erased}): user_id, config of export" in result.stderr
    assert f"(export {again}): data subject" in result.stderr and "was erased" in result.stderr
    assert topics(database_url, erased) == ["Imported"]
    assert topics(database_url, again) == []
    assert topics(database_url, kept) == ["Imported", "ProcessingStarted"]
