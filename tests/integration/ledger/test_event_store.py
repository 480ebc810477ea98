"""Appending events through the ledger and reading them back from PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from domain import topics
from domain.exceptions import ExportNotFound
from domain.exports.ids import aggregate_id, new_export_id
from domain.ledger.application import ExportLedger
from sql.names import WRITER_ROLE
from tests.integration.helpers import FILE_URL, SHA, request, stored_rows

CONFIG = {"scope": "selected", "conversation_ids": ["c1", "c2"], "include_metadata": False}


def test_ledger_connects_as_the_writer_role(ledger: ExportLedger) -> None:
    with ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT current_user AS role").fetchone()
    assert row["role"] == WRITER_ROLE


def test_full_lifecycle_reads_back_in_order(ledger: ExportLedger, database_url: str) -> None:
    before = datetime.now(UTC)
    expires_at = before + timedelta(days=7)
    first = ledger.request_export(
        user_id="alice", format="csv", config=CONFIG, conversation_count=2, actor="alice@web"
    )
    export_id = first.export_id
    states = [
        first,
        ledger.start_processing(export_id, actor="worker-1"),
        ledger.fail(export_id, error_message="disk full", actor="worker-1"),
        ledger.retry(export_id, actor="alice"),
        ledger.start_processing(export_id, actor="worker-2"),
        ledger.complete(
            export_id,
            file_size=2048,
            file_url=FILE_URL,
            expires_at=expires_at,
            file_sha256=SHA,
            row_count=2,
            actor="worker-2",
        ),
        ledger.record_download(export_id, actor="alice", file_sha256=SHA),
        ledger.delete(export_id, actor="admin", reason="user asked"),
    ]
    after = datetime.now(UTC)

    history = ledger.history(export_id)

    assert [e.type for e in history] == [
        "Requested",
        "ProcessingStarted",
        "Failed",
        "Retried",
        "ProcessingStarted",
        "Completed",
        "Downloaded",
        "Deleted",
    ]
    assert [e.version for e in history] == list(range(1, 9))
    assert [e.actor for e in history] == [
        "alice@web",
        "worker-1",
        "worker-1",
        "alice",
        "worker-2",
        "worker-2",
        "alice",
        "admin",
    ]
    # Positions are the log's notification ids: increasing, and the ones the
    # commands reported.
    positions = [e.position for e in history]
    assert all(isinstance(p, int) for p in positions)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert positions == [s.position for s in states]
    assert ledger.head_position() == positions[-1]
    # Timestamps: timezone-aware, UTC, increasing, within the test's run.
    stamps = [e.timestamp for e in history]
    for stamp in stamps:
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
        assert before <= stamp <= after
    assert stamps == sorted(stamps)
    # Each event's own data, without the envelope (ids, versions, topic, actor).
    requested = history[0].data
    assert requested["export_id"] == export_id
    assert requested["user_id"] == "alice"
    assert requested["format"] == "csv"
    assert requested["conversation_count"] == 2
    assert requested["config"]["scope"] == "selected"
    assert requested["config"]["conversation_ids"] == ["c1", "c2"]
    assert requested["config"]["include_metadata"] is False
    assert history[1].data == {}
    assert history[2].data == {"error_message": "disk full"}
    assert history[5].data == {
        "file_size": 2048,
        "file_url": FILE_URL,
        "expires_at": expires_at,
        "file_sha256": SHA,
        "row_count": 2,
    }
    assert history[5].data["expires_at"].tzinfo is not None
    assert history[6].data == {"file_sha256": SHA}
    assert history[7].data == {"reason": "user asked"}
    for entry in history:
        assert not {"originator_id", "originator_version", "timestamp", "actor"} & entry.data.keys()

    # The rows in PostgreSQL are the same events, in the same order.
    rows = stored_rows(database_url, export_id)
    assert [r["originator_version"] for r in rows] == list(range(1, 9))
    assert [r["notification_id"] for r in rows] == positions
    assert {r["originator_id"] for r in rows} == {aggregate_id(export_id)}
    assert [r["topic"] for r in rows] == [topics.export_event(e.type) for e in history]

    final = ledger.get(export_id)
    assert final.status == "deleted"
    assert final.version == 8
    assert final.download_count == 1
    assert final.deleted_by == "admin"
    assert final.created_at == stamps[0]
    assert final.updated_at == stamps[-1]


def test_histories_of_interleaved_exports_stay_apart(ledger: ExportLedger) -> None:
    a = request(ledger, "alice")
    b = request(ledger, "bob")
    ledger.start_processing(a.export_id)
    ledger.start_processing(b.export_id)
    ledger.fail(a.export_id, error_message="boom")

    history_a = ledger.history(a.export_id)
    history_b = ledger.history(b.export_id)

    assert [e.type for e in history_a] == ["Requested", "ProcessingStarted", "Failed"]
    assert [e.type for e in history_b] == ["Requested", "ProcessingStarted"]
    assert [e.position for e in history_a] == [1, 3, 5]
    assert [e.position for e in history_b] == [2, 4]
    assert ledger.head_position() == 5


def test_events_outlive_the_application_that_wrote_them(
    ledger: ExportLedger, open_ledgers: Callable[..., ExportLedger]
) -> None:
    state = request(ledger)
    ledger.start_processing(state.export_id, actor="worker")
    ledger.close()

    reopened = open_ledgers()

    assert reopened.get(state.export_id).status == "processing"
    assert [e.actor for e in reopened.history(state.export_id)] == ["u1", "worker"]
    # ...and it can carry on where the first left off.
    assert reopened.fail(state.export_id, error_message="x").version == 3


def test_unknown_export_is_not_found(ledger: ExportLedger) -> None:
    missing = new_export_id()
    with pytest.raises(ExportNotFound):
        ledger.history(missing)
    with pytest.raises(ExportNotFound):
        ledger.get(missing)
    with pytest.raises(ExportNotFound):
        ledger.start_processing(missing)


def test_empty_store_has_head_position_zero(ledger: ExportLedger) -> None:
    assert ledger.head_position() == 0
