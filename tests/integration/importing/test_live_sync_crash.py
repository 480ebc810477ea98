"""Exactly once: a follower killed with SIGKILL during a burst of 5,000 changes (one of
its transactions 500 changes long, taken in chunks of 100), then started again,
records every change once; a source that crashed and restarted is followed on."""

from __future__ import annotations

import signal
import threading
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.integration.importing.test_live_sync import (
    assert_read_table_equals_source,
    execute,
    follow,
    insert_queued,
    topics,
)
from tests.integration.logical_source import (
    follow_process,
    source_binaries,
    stored_position,
    wait_for,
)
from tests.integration.standby import Server

BIN = source_binaries()
pytestmark = pytest.mark.skipif(BIN is None, reason="no PostgreSQL server programs")
ROWS = 500
EXPIRY_CHANGES = 7  # per row: 500 inserts + 500 + 500 (one transaction) + 3,500 = 5,000
SLOT = "export_ledger_export_logs"


def burst(source: str, exports: list[str]) -> None:
    """5,000 changes, each its own transaction but one of 500."""
    with psycopg.connect(source, autocommit=True) as conn:
        for _ in range(ROWS):
            export_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO export_logs (export_id, user_id, format, config, conversation_count,"
                " status) VALUES (%s, %s, 'json', '{}', 3, 'queued')",
                (export_id, str(uuid.uuid4())),
            )
            exports.append(export_id)
        for export_id in exports:
            conn.execute(
                "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", (export_id,)
            )
        conn.execute(
            "UPDATE export_logs SET status = 'completed', file_size = 1, file_url = 'https://f/'"
            " || export_id, expires_at = '2030-01-01T00:00:00Z'"
        )
        for hour in range(EXPIRY_CHANGES):
            for export_id in exports:
                conn.execute(
                    "UPDATE export_logs SET expires_at = %s::timestamptz + %s * interval '1 hour'"
                    " WHERE export_id = %s",
                    ("2030-01-01T00:00:00Z", hour + 1, export_id),
                )


def source_stamps(url: str) -> Counter[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb -> 'source_commit' FROM exportledger_events"
        ).fetchall()
    return Counter((s["end_lsn"], s["ordinal"]) for (s,) in rows if s is not None)


def test_kill_9_during_a_burst_then_every_change_exactly_once(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path)
    follower = follow_process(database_url, source, tmp_path, "--batch-size", "100")
    exports: list[str] = []
    writer = threading.Thread(target=burst, args=(source, exports))
    writer.start()
    try:
        wait_for(
            lambda: (stored_position(database_url, SLOT) or {}).get("changes_applied", 0) >= 1200,
            "the follower to record some of the burst",
        )
        follower.send_signal(signal.SIGKILL)
        follower.wait()
        at_kill = (stored_position(database_url, SLOT) or {})["changes_applied"]
    finally:
        writer.join()
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert at_kill < ROWS * 10  # killed during the burst
    follow(database_url, source, tmp_path)
    expected = ["Imported", "ProcessingStarted", "Completed"] + ["ExpiryChanged"] * EXPIRY_CHANGES
    for export_id in exports:
        assert topics(database_url, export_id) == expected, export_id
    stamps = source_stamps(database_url)
    assert sum(stamps.values()) == ROWS * len(expected)
    assert max(stamps.values()) == 1  # no change of the source recorded twice
    assert_read_table_equals_source(database_url, source)


def test_a_source_that_crashed_and_restarted_is_followed_on(
    database_url: str, cluster: Server, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path, "--slot", "restarted")
    first = insert_queued(source)
    follow(database_url, source, tmp_path, "--slot", "restarted")
    cluster.kill()  # immediate shutdown: the slot's last advance may not be saved
    wait_for(lambda: not (cluster.data / "postmaster.pid").exists(), "the source to stop")
    cluster.start()
    second = insert_queued(source)
    execute(source, "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", first)
    follow(database_url, source, tmp_path, "--slot", "restarted")
    assert topics(database_url, first) == ["Imported", "ProcessingStarted"]
    assert topics(database_url, second) == ["Imported"]
    assert_read_table_equals_source(database_url, source)


def test_sigterm_finishes_the_batch_in_hand_and_stops(
    database_url: str, source: str, tmp_path: Path
) -> None:
    follow(database_url, source, tmp_path, "--slot", "terminated")
    follower = follow_process(database_url, source, tmp_path, "--slot", "terminated")
    try:
        exports = [insert_queued(source) for _ in range(20)]
        wait_for(
            lambda: (
                (stored_position(database_url, "terminated") or {}).get("changes_applied", 0) >= 20
            ),
            "the follower to record the inserts",
        )
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=60) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    log = (tmp_path / "follow.log").read_text()
    assert "stopped: 20 changes recorded, 0 refused" in log
    assert all(topics(database_url, export_id) == ["Imported"] for export_id in exports)
