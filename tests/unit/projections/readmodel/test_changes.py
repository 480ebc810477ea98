"""Decoding stored events for the projection (projections/readmodel/changes.py), no database:
the rows come from the in-memory ledger, stored by the same transcoder as in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest

from domain import topics
from domain.exports.ids import aggregate_id
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from domain.topics import EXPORT_EVENT_PREFIX
from projections.readmodel.changes import Change, decode, instant
from tests.unit.conftest import FakeClock
from tests.unit.projections.conftest import StoredRow

Rows = Callable[[], list[StoredRow]]
Changes = Callable[[], list[Change]]
NewExport = Callable[..., str]


def test_a_request_decodes_to_its_position_names_and_values(
    ledger: ExportLedger, stored_rows: Rows
) -> None:
    state = ledger.request_export(
        user_id="user-1", format="csv", config={"scope": "all"}, conversation_count=3
    )
    [row] = stored_rows()
    change = decode(row, ledger.subject_keys)

    assert change is not None
    assert change[:4] == (row[0], aggregate_id(state.export_id), 1, "Requested")
    assert datetime.fromisoformat(change.timestamp) == state.created_at
    assert "timestamp" not in change.data
    assert change.data["export_id"] == state.export_id
    assert change.data["user_id"] == "user-1" and change.data["actor"] == "user-1"
    assert change.data["format"] == "csv" and change.data["conversation_count"] == 3
    assert change.data["config"] == state.config


def test_every_event_of_a_life_decodes_in_order(
    ledger: ExportLedger, clock: FakeClock, new_export: NewExport, stored_changes: Changes
) -> None:
    export_id = new_export()
    ledger.start_processing(export_id)
    ledger.fail(export_id, error_message="disk full")
    ledger.retry(export_id)
    ledger.start_processing(export_id)
    ledger.complete(
        export_id, file_size=10, file_url="s3://x", expires_at=clock.now + timedelta(days=1)
    )
    ledger.record_download(export_id, actor="user-1")
    ledger.expire(export_id)
    history = ledger.history(export_id)
    ledger.delete(export_id, actor="admin", reason="asked")

    changes = stored_changes()
    assert [c.type for c in changes] == [
        "Requested",
        "ProcessingStarted",
        "Failed",
        "Retried",
        "ProcessingStarted",
        "Completed",
        "Downloaded",
        "Expired",
        "Deleted",
    ]
    assert [c.version for c in changes] == list(range(1, 10))
    assert [c.position for c in changes] == sorted({c.position for c in changes})
    assert {c.aggregate_id for c in changes} == {aggregate_id(export_id)}
    assert [(c.type, datetime.fromisoformat(c.timestamp)) for c in changes[:-1]] == [
        (entry.type, entry.timestamp) for entry in history
    ]
    assert changes[2].data["error_message"] == "disk full"
    assert changes[-1].data == {"actor": "admin", "reason": "asked"}


def test_other_aggregates_events_are_left_out(
    ledger: ExportLedger, new_export: NewExport, stored_rows: Rows
) -> None:
    new_export(idempotency_key="key-1")  # also stores the key's claim
    rows = stored_rows()
    assert len(rows) == 2
    claims = [row for row in rows if not row[3].startswith(EXPORT_EVENT_PREFIX)]
    assert [decode(row) for row in claims] == [None]


def test_the_transcoders_format() -> None:
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-03-03T14:00:00+00:00"},
        "actor": "worker",
        "error_message": "disk full",
    }
    row = (42, UUID(int=1), 3, topics.export_event("Failed"), orjson.dumps(state))
    assert decode(row) == Change(
        42,
        UUID(int=1),
        3,
        "Failed",
        "2026-03-03T14:00:00+00:00",
        {"actor": "worker", "error_message": "disk full"},
    )
    assert decode((1, UUID(int=1), 1, "elsewhere:Thing.Created", b"{}")) is None


def test_instant_is_the_stored_text_of_a_datetime(
    ledger: ExportLedger, export_in: Callable[[Status], str], stored_changes: Changes
) -> None:
    export_id = export_in(Status.COMPLETED)
    [completed] = [c for c in stored_changes() if c.type == "Completed"]
    text = instant(completed.data["expires_at"])
    assert text is not None
    assert datetime.fromisoformat(text) == ledger.get(export_id).expires_at
    assert instant(None) is None
    assert instant({"_type_": "datetime_iso", "_data_": "2026-03-03"}) == "2026-03-03"


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-03T14:00:00+00:00",
        datetime(2026, 3, 3),
        {"_type_": "uuid_hex", "_data_": "00"},
        {"_data_": "2026-03-03"},
    ],
)
def test_instant_refuses_anything_else(value: Any) -> None:
    with pytest.raises(ValueError, match="not a stored datetime"):
        instant(value)
