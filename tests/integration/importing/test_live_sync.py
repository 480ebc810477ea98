"""``export-ledger import --follow``: the initial import in the slot's snapshot, then every
committed change of the source table as the ledger's events, against a second
PostgreSQL cluster with ``wal_level = logical`` started by the test."""

from __future__ import annotations

import json
import random
import secrets
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from tests.integration.import_helpers import run_import, source_rows
from tests.integration.logical_source import (
    source_binaries,
    stored_position,
)
from tests.integration.readmodel_helpers import catch_up, rows_by_export_id
from tests.seed_table import copy_rows, seed_rows

BIN = source_binaries()
pytestmark = pytest.mark.skipif(BIN is None, reason="no PostgreSQL server programs")


def follow(url: str, source: str, tmp_path: Path, *args: str) -> Any:
    """One in-process run of the follow that stops when it has caught up."""
    jobs = () if "--jobs" in args else ("--jobs", "1")
    result = run_import(url, source, tmp_path, "--follow", "--until-idle", *jobs, *args)
    assert result.exit_code == 0, result.output
    return result


def execute(source: str, query: str, *params: Any) -> None:
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(query, params)


def topics(url: str, export_id: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT topic FROM exportledger_events WHERE originator_id = %s "
            "ORDER BY originator_version",
            (aggregate_id(export_id),),
        ).fetchall()
    return [str(topic).rsplit(".", 1)[1] for (topic,) in rows]


def insert_queued(source: str, *, config: dict[str, Any] | None = None) -> str:
    export_id = str(uuid.uuid4())
    execute(
        source,
        "INSERT INTO export_logs (export_id, user_id, format, config, conversation_count, status)"
        " VALUES (%s, %s, 'json', %s, 3, 'queued')",
        export_id, str(uuid.uuid4()), json.dumps(config or {}),
    )  # fmt: skip
    return export_id


def complete(source: str, export_id: str, size: int = 10) -> None:
    execute(
        source,
        "UPDATE export_logs SET status = 'completed', file_size = %s, "
        "file_url = 'https://files.example/' || export_id, expires_at = now() + interval '7 days'"
        " WHERE export_id = %s",
        size, export_id,
    )  # fmt: skip


def assert_read_table_equals_source(url: str, source: str) -> None:
    catch_up(url)
    live = rows_by_export_id(url)
    wanted = source_rows(source)
    live = {k: r for k, r in live.items() if r["status"] != "deleted"}
    assert set(live) == set(wanted)
    for export_id, row in wanted.items():
        for column in ("status", "config", "file_size", "file_url", "expires_at", "error_message"):
            assert live[export_id][column] == row[column], (export_id, column)


def test_the_initial_import_while_the_source_keeps_writing(
    database_url: str, source: str, tmp_path: Path
) -> None:
    with psycopg.connect(source) as conn:
        copy_rows(conn, "export_logs", seed_rows(300, random.Random(3)))
    written: list[str] = []

    def keep_writing() -> None:
        for _ in range(150):
            export_id = insert_queued(source)
            execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s",
                    export_id)  # fmt: skip
            complete(source, export_id)
            written.append(export_id)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        follow(database_url, source, tmp_path)
    finally:
        writer.join()
    follow(database_url, source, tmp_path)
    assert len(written) > 0
    assert_read_table_equals_source(database_url, source)
    for export_id in written:  # each move once: in the snapshot's row, or as its event
        seen = topics(database_url, export_id)
        assert seen[0] == "Imported"
        assert len(seen) == len(set(seen)), seen
        assert seen[-1] in ("Imported", "Completed"), seen


def test_three_states_a_delete_and_an_unchanged_toasted_config(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    moved = insert_queued(source)
    execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", moved)
    complete(source, moved)
    gone = insert_queued(source)
    large = {"note": secrets.token_hex(15_000)}  # 30 kB that will not compress: TOASTed
    toasted = insert_queued(source, config=large)
    follow(database_url, source, tmp_path)
    assert topics(database_url, moved) == ["Imported", "ProcessingStarted", "Completed"]
    assert_read_table_equals_source(database_url, source)

    execute(source, "DELETE FROM export_logs WHERE export_id = %s", gone)
    execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", toasted)
    follow(database_url, source, tmp_path)
    assert topics(database_url, gone) == ["Imported", "Deleted"]
    assert topics(database_url, toasted) == ["Imported", "ProcessingStarted"]
    assert rows_by_export_id(database_url)[toasted]["config"] == large
    assert_read_table_equals_source(database_url, source)
    position = stored_position(database_url, "export_ledger_export_logs")
    assert position is not None and position["phase"] == "following" and position["done"]


def test_events_carry_the_source_commit(
    database_url: str, source: str, tmp_path: Path, ledger: ExportLedger
) -> None:
    follow(database_url, source, tmp_path)
    export_id = insert_queued(source)
    follow(database_url, source, tmp_path)
    with psycopg.connect(database_url) as conn:
        (state,) = conn.execute(
            "SELECT state FROM exportledger_events WHERE originator_id = %s",
            (aggregate_id(export_id),),
        ).fetchone() or (None,)
    stamp = json.loads(bytes(state))["source_commit"]
    assert set(stamp) == {"end_lsn", "ordinal", "committed_at"}
    assert stamp["ordinal"] == 1
    (entry,) = ledger.history(export_id)  # history shows both times
    assert entry.data["source_commit"] == stamp and entry.actor == "sync"
    assert entry.timestamp >= datetime.fromisoformat(stamp["committed_at"])


def test_two_processes_import_in_the_slots_snapshot(
    database_url: str, source: str, tmp_path: Path
) -> None:
    with psycopg.connect(source) as conn:
        copy_rows(conn, "export_logs", seed_rows(200, random.Random(5)))
    result = follow(database_url, source, tmp_path, "--jobs", "2")
    assert "imported 200 rows of export_logs in the slot's snapshot" in result.stderr
    moved = next(k for k, r in source_rows(source).items() if r["status"] == "queued")
    execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", moved)
    follow(database_url, source, tmp_path)
    assert topics(database_url, moved) == ["Imported", "ProcessingStarted"]
    assert_read_table_equals_source(database_url, source)


def test_an_initial_import_that_did_not_finish_is_made_again_on_a_new_slot(
    database_url: str, source: str, tmp_path: Path
) -> None:
    with psycopg.connect(source) as conn:
        copy_rows(conn, "export_logs", seed_rows(20, random.Random(9)))
    follow(database_url, source, tmp_path)
    with psycopg.connect(database_url) as conn:  # as a crash during the import leaves it
        conn.execute("UPDATE sync_positions SET phase = 'importing'")
    added = insert_queued(source)
    result = follow(database_url, source, tmp_path)
    assert "imported 21 rows" in result.stderr and "20 unchanged" in result.stderr
    assert topics(database_url, added) == ["Imported"]
    position = stored_position(database_url, "export_ledger_export_logs")
    assert position is not None and position["phase"] == "following"
    assert_read_table_equals_source(database_url, source)
