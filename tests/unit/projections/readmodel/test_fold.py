"""The export_logs fold (projections/readmodel/fold.py) without a database: what each event
does to an export's row, the rows of many exports, and the versions of one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.exceptions import ReadModelError
from domain.exports.ids import aggregate_id
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from projections.readmodel.changes import Change
from projections.readmodel.fold import (
    COLUMNS,
    VALIDITY,
    VERSION_COLUMNS,
    Row,
    apply,
    fold_by_export,
    fold_export,
)
from tests.unit.conftest import FakeClock

EXPORT = UUID(int=7)
EXPIRES = {"_type_": "datetime_iso", "_data_": "2026-03-10T14:00:00+00:00"}


def a_change(
    type: str, version: int, position: int, aggregate: UUID = EXPORT, **data: Any
) -> Change:
    """A stored event of an export, stamped one second per version."""
    return Change(position, aggregate, version, type, f"2026-03-03T14:00:{version:02d}+00:00", data)


def requested(aggregate: UUID = EXPORT, position: int = 10) -> Change:
    return a_change(
        "Requested",
        1,
        position,
        aggregate,
        export_id=f"exp_{aggregate.int}",
        user_id="user-1",
        format="csv",
        config={"scope": "all"},
        conversation_count=3,
        actor="user-1",
    )


def requested_row() -> Row:
    row = apply(None, requested())
    assert row is not None
    return row


def test_a_request_opens_a_queued_row() -> None:
    assert apply(None, requested()) == {
        "id": EXPORT,
        "export_id": "exp_7",
        "user_id": "user-1",
        "timestamp": "2026-03-03T14:00:01+00:00",
        "format": "csv",
        "config": {"scope": "all"},
        "conversation_count": 3,
        "file_size": None,
        "status": "queued",
        "file_url": None,
        "expires_at": None,
        "error_message": None,
        "created_at": "2026-03-03T14:00:01+00:00",
        "updated_at": "2026-03-03T14:00:01+00:00",
        "version": 1,
        "position": 10,
    }


@pytest.mark.parametrize(
    ("type", "data", "columns"),
    [
        ("ProcessingStarted", {"actor": "worker"}, {"status": "processing"}),
        (
            "Completed",
            {
                "actor": "worker",
                "file_size": 1024,
                "file_url": "s3://exports/exp.json",
                "expires_at": EXPIRES,
                "file_sha256": "ab" * 32,
                "row_count": 3,
            },
            {
                "status": "completed",
                "file_size": 1024,
                "file_url": "s3://exports/exp.json",
                "expires_at": "2026-03-10T14:00:00+00:00",
                "error_message": None,
            },
        ),
        (
            "Completed",
            {"actor": "worker", "file_size": 0, "file_url": "s3://x", "expires_at": None},
            {
                "status": "completed",
                "file_size": 0,
                "file_url": "s3://x",
                "expires_at": None,
                "error_message": None,
            },
        ),
        (
            "Failed",
            {"actor": "worker", "error_message": "out of memory"},
            {"status": "failed", "error_message": "out of memory"},
        ),
        ("Retried", {"actor": "admin"}, {"status": "queued", "error_message": None}),
        ("Expired", {"actor": "system"}, {"status": "expired"}),
        ("Downloaded", {"actor": "user-1", "file_sha256": None}, {}),
        ("AddedLater", {"actor": "system", "anything": 1}, {}),  # a type the fold does not know
    ],
)
def test_what_each_event_changes(type: str, data: dict[str, Any], columns: Row) -> None:
    # An earlier error on the row shows which events clear it and which keep it.
    before = {**requested_row(), "error_message": "disk full"}
    kept = dict(before)
    after = apply(before, a_change(type, 4, 20, **data))
    assert after == {
        **before,
        **columns,
        "updated_at": "2026-03-03T14:00:04+00:00",
        "version": 4,
        "position": 20,
    }
    assert before == kept  # a new row, the old one untouched
    assert after is not None and tuple(after) == COLUMNS


def test_a_deletion_takes_the_row_out() -> None:
    row = requested_row()
    assert apply(row, a_change("Deleted", 2, 11, actor="admin", reason=None)) is None
    assert apply(None, a_change("Deleted", 2, 11, actor="admin", reason=None)) is None


def test_a_request_starts_the_row_afresh() -> None:
    row = requested_row()
    failed = apply(row, a_change("Failed", 2, 11, actor="worker", error_message="x"))
    assert apply(failed, requested()) == row


def test_an_event_of_an_export_without_a_row_is_refused() -> None:
    with pytest.raises(ReadModelError, match=rf"Expired event at position 12 .*{EXPORT}.*rebuild"):
        apply(None, a_change("Expired", 3, 12, actor="system"))


def test_one_row_per_export_still_in_the_table() -> None:
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    changes = [
        requested(a, 1),
        a_change("ProcessingStarted", 2, 4, a, actor="worker"),
        requested(b, 2),
        a_change("Deleted", 2, 5, b, actor="admin", reason=None),
        requested(c, 3),
    ]
    rows = list(fold_by_export(changes))
    assert [(r["id"], r["status"], r["version"], r["position"]) for r in rows] == [
        (a, "processing", 2, 4),
        (c, "queued", 1, 3),
    ]
    assert list(fold_by_export([])) == []


def test_the_versions_of_one_export() -> None:
    changes = [
        requested(position=10),
        a_change("ProcessingStarted", 2, 14, actor="worker"),
        a_change("Failed", 3, 15, actor="worker", error_message="disk full"),
    ]
    row, versions = fold_export(None, changes)

    assert row is not None and row["status"] == "failed"
    assert [tuple(v) for v in versions] == [VERSION_COLUMNS] * 3
    assert [v["status"] for v in versions] == ["queued", "processing", "failed"]
    assert [tuple(v[k] for k in VALIDITY) for v in versions] == [
        (10, "2026-03-03T14:00:01+00:00", 14, "2026-03-03T14:00:02+00:00"),
        (14, "2026-03-03T14:00:02+00:00", 15, "2026-03-03T14:00:03+00:00"),
        (15, "2026-03-03T14:00:03+00:00", None, None),
    ]
    assert {k: versions[-1][k] for k in COLUMNS} == row


def test_a_deletion_closes_the_last_version_and_opens_none() -> None:
    row = requested_row()
    after, versions = fold_export(row, [a_change("Deleted", 2, 13, actor="admin", reason="asked")])
    assert after is None and versions == []

    after, versions = fold_export(
        None, [requested(position=10), a_change("Deleted", 2, 13, actor="admin", reason=None)]
    )
    assert after is None
    assert [(v["valid_from"], v["valid_to"], v["valid_to_time"]) for v in versions] == [
        (10, 13, "2026-03-03T14:00:02+00:00")
    ]


def test_folding_onto_a_row_leaves_its_version_to_the_caller() -> None:
    row = requested_row()
    after, versions = fold_export(row, [a_change("Expired", 5, 30, actor="system")])
    assert after is not None and after["status"] == "expired"
    assert [(v["valid_from"], v["valid_to"]) for v in versions] == [(30, None)]
    assert fold_export(row, []) == (row, [])


Step = Callable[[ExportLedger, str, FakeClock], object]


def _start(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.start_processing(export_id)


def _fail(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.fail(export_id, error_message="disk full")


def _retry(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.retry(export_id)


def _complete(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    expires = clock.now + timedelta(days=7)
    return app.complete(export_id, file_size=1024, file_url="s3://x", expires_at=expires)


def _complete_for_good(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.complete(export_id, file_size=1, file_url="s3://x", expires_at=None)


def _download(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.record_download(export_id, actor="user-1")


def _expire(app: ExportLedger, export_id: str, clock: FakeClock) -> object:
    return app.expire(export_id)


LIVES: dict[str, list[Step]] = {
    "requested": [],
    "processing": [_start],
    "failed": [_start, _fail],
    "failed, then retried": [_start, _fail, _retry],
    "completed and downloaded": [_start, _complete, _download],
    "completed, never to expire": [_start, _complete_for_good],
    "expired": [_start, _complete, _expire],
}


@pytest.mark.parametrize("life", LIVES)
def test_the_row_agrees_with_the_aggregate(
    life: str,
    ledger: ExportLedger,
    clock: FakeClock,
    new_export: Callable[..., str],
    stored_changes: Callable[[], list[Change]],
) -> None:
    """Folding the stored events gives the row the ledger's own state implies."""
    export_id = new_export()
    for step in LIVES[life]:
        step(ledger, export_id, clock)
    state = ledger.get(export_id)
    [row] = fold_by_export(stored_changes())

    def moment(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text)

    assert row["id"] == aggregate_id(export_id)
    assert {k: row[k] for k in ("export_id", "user_id", "format", "config")} == {
        "export_id": state.export_id,
        "user_id": state.user_id,
        "format": state.format,
        "config": state.config,
    }
    assert (row["status"], row["file_size"], row["file_url"], row["error_message"]) == (
        state.status,
        state.file_size,
        state.file_url,
        state.error_message,
    )
    assert row["conversation_count"] == state.conversation_count
    assert row["version"] == state.version
    assert moment(row["expires_at"]) == state.expires_at
    assert moment(row["created_at"]) == moment(row["timestamp"]) == state.created_at
    assert moment(row["updated_at"]) == state.updated_at


def test_a_deleted_export_has_no_row(
    export_in: Callable[[Status], str], stored_changes: Callable[[], list[Change]]
) -> None:
    export_in(Status.DELETED)
    assert list(fold_by_export(stored_changes())) == []
