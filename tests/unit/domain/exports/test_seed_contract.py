"""The seed's contract in the domain: its config in either spelling, a create that starts
past queued, an expiry change, and rows of its table planned as events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.exceptions import IllegalTransition, InvalidExport
from domain.exports.config import check_config, normalised
from domain.exports.lifecycle import lifecycle_path
from domain.exports.model import ExportLog
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from domain.sync.rows import SourceRow, plan_sync, source_times
from tests.seed_contract import SEED_CONFIG as SEED

OURS = {k: v for k, v in normalised(SEED).items() if k != "format"}
WHEN = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)


def test_either_spelling_checks_out_and_is_kept_as_sent() -> None:
    assert check_config(SEED, "jsonl") == SEED
    assert check_config(OURS, "jsonl") == OURS
    extra = {**SEED, "filters": {"qualityScoreMin": 7.5, "mine": {"a": [1]}}, "tab": "x"}
    assert check_config(extra, "jsonl") == extra


def test_both_spellings_mean_the_same() -> None:
    assert normalised(SEED) == {**normalised(OURS), "format": "jsonl"}
    assert normalised({}) == normalised({"scope": "all", "include_metadata": True})


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**SEED, "format": "xml"}, ("config.format",)),
        ({"includeTimestamps": 1}, ("includeTimestamps",)),
        ({"include_full_content": True, "includeFullContent": True}, ("not both",)),
        ({"filters": {"qualityScoreMax": 11}}, ("qualityScoreMax",)),
        ({"filters": {"dateFrom": "2026-01-01T00:00:00"}}, ("timezone",)),
        ({"conversationIds": "c1"}, ("conversationIds",)),
        ({"x": "y" * 70_000}, ("larger",)),
        ({"x": {"y": {"z": [[[[[[1]]]]]]}}}, ("deeper",)),
        ({"x": [2**64]}, ("64 bits",)),
    ],
)
def test_bad_configs_name_what_is_wrong(config: dict[str, Any], words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidExport) as refused:
        check_config(config, "jsonl")
    for word in words:
        assert word in str(refused.value)


@pytest.mark.parametrize(
    ("start", "target", "path"),
    [
        (Status.QUEUED, Status.QUEUED, []),
        (Status.QUEUED, Status.EXPIRED, [Status.PROCESSING, Status.COMPLETED, Status.EXPIRED]),
        (Status.FAILED, Status.COMPLETED, [Status.QUEUED, Status.PROCESSING, Status.COMPLETED]),
        (Status.COMPLETED, Status.PROCESSING, None),
        (Status.EXPIRED, Status.QUEUED, None),
    ],
)
def test_lifecycle_paths(start: Status, target: Status, path: list[Status] | None) -> None:
    assert lifecycle_path(start, target) == path


@pytest.mark.parametrize("status", ["processing", "completed", "failed", "expired"])
def test_a_create_past_queued_is_one_append(ledger: ExportLedger, status: str) -> None:
    state = ledger.request_export(
        user_id="u1", format="jsonl", config=SEED, conversation_count=42, status=status
    )
    assert state.status == status
    history = ledger.history(state.export_id)
    assert [e.actor for e in history] == ["u1"] * len(history)
    assert len(history) == 1 + len(lifecycle_path(Status.QUEUED, Status(status)) or [])
    with pytest.raises(InvalidExport, match="status"):
        ledger.request_export(
            user_id="u1", format="jsonl", config={}, conversation_count=1, status="deleted"
        )


def test_an_idempotent_create_past_queued_is_not_a_queued_one(ledger: ExportLedger) -> None:
    first = ledger.request_export(
        user_id="u1", format="csv", config={}, conversation_count=1, idempotency_key="k",
        status="completed",
    )  # fmt: skip
    again = ledger.request_export(
        user_id="u1", format="csv", config={}, conversation_count=1, idempotency_key="k",
        status="completed",
    )  # fmt: skip
    assert again.export_id == first.export_id


def test_the_expiry_of_a_completed_export_changes(ledger: ExportLedger) -> None:
    export_id = ledger.request_export(
        user_id="u1", format="csv", config={}, conversation_count=1, status="completed"
    ).export_id
    state = ledger.change_expiry(export_id, expires_at=WHEN)
    assert state.expires_at == WHEN
    assert ledger.history(export_id)[-1].type == "ExpiryChanged"
    ledger.expire_due(_Due([export_id]), now=WHEN + timedelta(seconds=1))
    with pytest.raises(IllegalTransition):
        ledger.change_expiry(export_id, expires_at=None)


class _Due:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def find_due(self, now: datetime, after: str | None, limit: int) -> list[str]:
        return [] if after else self.ids


ROW = SourceRow(
    id="1", export_id="2f1e0a4c-1b2d-4e3f-9a8b-7c6d5e4f3a2b", user_id="u1",
    timestamp=WHEN - timedelta(days=30), format="jsonl", config=SEED, conversation_count=42,
    file_size=2048, status="completed", file_url="https://files.example.com/a.jsonl",
    expires_at=WHEN, error_message=None, created_at=WHEN - timedelta(days=30), updated_at=WHEN,
)  # fmt: skip


def test_a_new_row_is_one_imported_event_that_keeps_its_times() -> None:
    outcome, export = plan_sync(None, ROW)
    assert outcome == "created"
    assert [type(e).__name__ for e in export.pending_events] == ["Imported"]
    assert (export.status, export.file_size, export.file_url) == (
        Status.COMPLETED, 2048, ROW.file_url,
    )  # fmt: skip
    assert export.expires_at == WHEN and export.last_actor == "import"
    assert export.imported == {
        "id": "1",
        "timestamp": ROW.timestamp.isoformat(),
        "created_at": ROW.timestamp.isoformat(),
        "updated_at": WHEN.isoformat(),
    }


@pytest.mark.parametrize("status", ["queued", "processing", "failed", "expired"])
def test_an_imported_export_holds_what_its_status_holds(status: str) -> None:
    row = replace(ROW, status=status, error_message="worker timed out")
    _, export = plan_sync(None, row)
    assert export.status == Status(status)
    with_file = status == "expired"
    assert (export.file_url is not None, export.expires_at is not None) == (with_file, with_file)
    assert export.error_message == ("worker timed out" if status == "failed" else None)


def test_an_imported_export_takes_the_next_move_as_a_command(ledger: ExportLedger) -> None:
    processing = replace(ROW, status="processing", file_size=None, file_url=None, expires_at=None)
    ledger.sync_rows([processing])
    state = ledger.fail(ROW.export_id, error_message="disk full")
    assert state.status == Status.FAILED
    assert [e.type for e in ledger.history(ROW.export_id)] == ["Imported", "Failed"]


def test_an_export_imported_as_a_walk_by_an_earlier_version_syncs_as_before(
    ledger: ExportLedger,
) -> None:
    """Earlier imports recorded Requested (with ``imported``) and a move per step."""
    walked = ExportLog(
        export_id=ROW.export_id, user_id=ROW.user_id, format="jsonl", config=SEED,
        conversation_count=42, actor="import", imported=source_times(ROW),
    )  # fmt: skip
    walked.advance_to(
        Status.COMPLETED, "import", file_size=2048, file_url=ROW.file_url, expires_at=WHEN
    )
    ledger.save(walked)
    assert [r.outcome for r in ledger.sync_rows([ROW])] == ["unchanged"]
    expired = replace(ROW, status="expired")
    assert [r.outcome for r in ledger.sync_rows([expired])] == ["changed"]
    assert [e.type for e in ledger.history(ROW.export_id)] == [
        "Requested", "ProcessingStarted", "Completed", "Expired",
    ]  # fmt: skip


def test_a_known_row_records_only_what_changed(ledger: ExportLedger) -> None:
    assert [r.outcome for r in ledger.sync_rows([ROW])] == ["created"]
    assert [r.outcome for r in ledger.sync_rows([ROW])] == ["unchanged"]
    later = replace(ROW, expires_at=WHEN + timedelta(days=1))
    assert [r.outcome for r in ledger.sync_rows([later])] == ["changed"]
    assert ledger.history(ROW.export_id)[-1].type == "ExpiryChanged"
    expired = replace(later, status="expired")
    assert [r.outcome for r in ledger.sync_rows([expired])] == ["changed"]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "processing"},
        {"user_id": "u2"},
        {"file_url": "https://elsewhere.example.com/b"},
        {"status": "deleted"},
        {"export_id": "not-an-id"},
    ],
)
def test_rows_the_ledger_cannot_record_are_refused_whole(
    ledger: ExportLedger, change: dict[str, Any]
) -> None:
    ledger.sync_rows([ROW])
    head = ledger.head_position()
    (result,) = ledger.sync_rows([replace(ROW, **change)])
    assert result.outcome is None and result.refused
    assert ledger.head_position() == head


def test_the_same_export_twice_in_one_call(ledger: ExportLedger) -> None:
    queued = replace(ROW, status="queued", file_size=None, file_url=None, expires_at=None)
    results = ledger.sync_rows([queued, ROW])
    assert [r.outcome for r in results] == ["created", "changed"]
    assert ledger.get(ROW.export_id).status == Status.COMPLETED


@pytest.mark.parametrize(
    "change", [{"file_url": "https://x/\x00"}, {"config": {**SEED, "note": "a\x00b"}}]
)
def test_a_row_with_a_nul_character_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidExport, match="must not contain NUL"):
        plan_sync(None, replace(ROW, **change))
