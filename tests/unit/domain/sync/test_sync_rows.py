"""``ExportLedger.sync_rows`` over many rows at once, in memory: the exports read in
one call through a StoredExports, a dry run, rows refused without failing the rest,
and a re-plan after another command."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.ledger.application import ExportLedger
from domain.sync.batch import StoredRow
from domain.sync.rows import SourceRow
from tests.unit.conftest import POPO_ENV, START

CONFIG: dict[str, Any] = {"scope": "all", "format": "jsonl", "includeMetadata": True}


class RecorderExports:
    """A StoredExports over the in-memory recorder, counting its calls."""

    def __init__(self, ledger: ExportLedger) -> None:
        self.ledger = ledger
        self.calls = 0

    def stored_events(self, originator_ids: Sequence[UUID]) -> Iterable[StoredRow]:
        self.calls += 1
        for originator_id in originator_ids:
            for e in self.ledger.recorder.select_events(originator_id):
                yield e.originator_id, e.originator_version, e.topic, e.state


@pytest.fixture
def ledger() -> ExportLedger:
    return ExportLedger(env=POPO_ENV)


def row(status: str = "queued", **changes: Any) -> SourceRow:
    done = status in ("completed", "expired")
    base = SourceRow(
        id="1", export_id=str(uuid.uuid4()), user_id="user-a", timestamp=START, format="jsonl",
        config=dict(CONFIG), conversation_count=3, file_size=10 if done else None, status=status,
        file_url="https://x/f.jsonl" if done else None,
        expires_at=START + timedelta(days=7) if done else None,
        error_message="boom" if status == "failed" else None, created_at=START, updated_at=START,
    )  # fmt: skip
    return replace(base, **changes)


def head(ledger: ExportLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_the_exports_are_read_in_one_call_and_planned_as_one_by_one(ledger: ExportLedger) -> None:
    known = RecorderExports(ledger)
    first = [row("processing"), row("completed"), row("failed")]
    assert [s.outcome for s in ledger.sync_rows(first, known=known)] == ["created"] * 3
    later = [replace(first[0], status="failed", error_message="x"), first[1], row("expired")]
    outcomes = [s.outcome for s in ledger.sync_rows(later, known=known)]
    assert outcomes == ["changed", "unchanged", "created"]
    assert known.calls == 2
    assert ledger.get(first[0].export_id).status == "failed"


def test_a_dry_run_plans_the_same_and_records_nothing(ledger: ExportLedger) -> None:
    rows = [row("completed"), row("deleted")]
    before = head(ledger)
    dry = ledger.sync_rows(rows, known=RecorderExports(ledger), dry_run=True)
    assert head(ledger) == before
    assert ledger.sync_rows(rows, known=RecorderExports(ledger)) == dry
    assert dry[0].outcome == "created" and dry[1].refused


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("error_message", "disk\x00full", "error_message must not contain NUL characters"),
        ("config", {**CONFIG, "note": "a\x00b"}, "config must not contain NUL characters"),
        ("config", {**CONFIG, "includeMetadata": "yes"}, "config.includeMetadata"),
    ],
)
def test_a_bad_row_is_refused_and_the_rest_recorded(
    ledger: ExportLedger, field: str, value: Any, reason: str
) -> None:
    bad = replace(row("failed"), **{field: value})
    for _ in range(2):  # the same bad row again: refused again, nothing else is
        results = ledger.sync_rows([row(), replace(bad, export_id=str(uuid.uuid4())), row()])
        assert [r.outcome for r in results] == ["created", None, "created"]
        assert reason in str(results[1].refused)


def test_a_config_is_recorded_as_sent_and_not_shared(ledger: ExportLedger) -> None:
    one, two = row(), row()
    ledger.sync_rows([one, two])
    assert ledger.get(two.export_id).config == CONFIG
    assert ledger.get(two.export_id).config is not two.config


def test_rows_are_planned_again_when_another_command_got_there_first(
    ledger: ExportLedger,
) -> None:
    queued = row()
    ledger.sync_rows([queued])

    class Racing(RecorderExports):
        def stored_events(self, originator_ids: Sequence[UUID]) -> Iterable[StoredRow]:
            found = list(super().stored_events(originator_ids))
            if self.calls == 1:  # after the first read, a worker starts the export
                self.ledger.start_processing(queued.export_id, actor="worker")
            return found

    known = Racing(ledger)
    done = replace(queued, status="completed", file_size=5, file_url="https://x/f.jsonl")
    assert [r.outcome for r in ledger.sync_rows([done], known=known)] == ["changed"]
    assert known.calls == 2
    history = ledger.history(queued.export_id)
    assert [(e.type, e.actor) for e in history] == [
        ("Imported", "import"), ("ProcessingStarted", "worker"), ("Completed", "import"),
    ]  # fmt: skip


def test_a_row_of_a_shed_export_is_refused_and_the_rest_recorded(ledger: ExportLedger) -> None:
    shed, other = row("processing"), row("queued")
    ledger.sync_rows([shed, other])
    export = ledger._load(shed.export_id)
    export.apply_retention("system", "ret_1", START)
    ledger.record(export)
    later = [replace(shed, status="failed", error_message="x"), replace(other, status="processing")]
    results = ledger.sync_rows(later, known=RecorderExports(ledger))
    assert "shed by a retention policy" in (results[0].refused or "")
    assert results[1].outcome == "changed"
    assert ledger.sync_rows([shed], known=RecorderExports(ledger))[0].outcome == "unchanged"
