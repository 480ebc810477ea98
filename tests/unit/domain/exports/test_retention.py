"""RetentionApplied on the aggregate: in every status, once, never past a hold; after
it, only the commands that end the export, and none recording a personal field."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.exceptions import ExportOnHold, ExportShed, InvalidExport, RetentionPolicyNotFound
from domain.exports.ids import aggregate_id
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT
from domain.retention.due import Checked
from domain.retention.policies import Basis
from domain.sync.batch import StoredRow

ExportIn = Callable[[Status], str]
LATER = timedelta(days=400)


class AllExports:
    """RetentionCandidates over every export of the ledger (none with a key of its own)."""

    def __init__(self, ledger: ExportLedger, ids: Sequence[str]) -> None:
        self.ids = sorted(aggregate_id(i) for i in ids)
        self.ledger = ledger
        self.remembered: list[Checked] = []

    def candidates(
        self, after: UUID | None, limit: int, *, policies_version: int, now: datetime
    ) -> list[tuple[UUID, bool]]:
        return [(i, False) for i in self.ids if after is None or i > after][:limit]

    def remember(self, checked: Sequence[Checked], policies_version: int) -> None:
        self.remembered.extend(checked)

    def stored_events(self, originator_ids: Sequence[UUID]) -> Iterator[StoredRow]:
        for originator_id in originator_ids:
            for e in self.ledger.recorder.select_events(originator_id):
                yield e.originator_id, e.originator_version, e.topic, e.state


def now() -> datetime:
    return datetime.now(UTC) + LATER


@pytest.mark.parametrize("status", list(Status))
def test_retention_applies_in_every_status(
    ledger: ExportLedger, export_in: ExportIn, status: Status
) -> None:
    export_id = export_in(status)
    ledger.set_retention(after="30d", basis="last-event", actor="admin")
    run = ledger.retain(AllExports(ledger, [export_id]), now=now())
    assert run.applied == [export_id] and run.old_format == 1
    assert [e.type for e in ledger.history(export_id)][-1] == "RetentionApplied"
    state = ledger.get(export_id)
    assert state.status == status and state.user_id == "user-1"
    assert state.config == {"shed": True}
    if status in (Status.COMPLETED, Status.EXPIRED):
        assert state.file_url == SHED_TEXT
    if status == Status.DELETED:
        assert state.delete_reason == SHED_TEXT
    again = ledger.retain(AllExports(ledger, [export_id]), now=now())
    assert again.applied == []


def test_applying_twice_is_refused(ledger: ExportLedger, export_in: ExportIn) -> None:
    export = ledger._load(export_in(Status.FAILED))
    export.apply_retention("system", "ret_1", now())
    with pytest.raises(ExportShed, match="cannot apply a retention policy again"):
        export.apply_retention("system", "ret_1", now())


def test_commands_after_shedding_raise_export_shed(
    ledger: ExportLedger, export_in: ExportIn
) -> None:
    completed, failed = export_in(Status.COMPLETED), export_in(Status.FAILED)
    ledger.set_retention(after="1d", basis="last-event", actor="admin")
    ledger.retain(AllExports(ledger, [completed, failed]), now=now())
    with pytest.raises(ExportShed, match="place a legal hold"):
        ledger.place_hold(completed, matter="M-1", actor="admin")
    with pytest.raises(ExportShed):
        ledger.record_download(completed, actor="user-1")
    with pytest.raises(ExportShed):
        ledger.change_expiry(completed, expires_at=None)
    with pytest.raises(ExportShed):
        ledger.retry(failed)
    with pytest.raises(ExportShed, match="reason"):
        ledger.delete(completed, actor="admin", reason="asked")
    assert ledger.expire(completed).status == Status.EXPIRED
    assert ledger.delete(failed, actor="admin").status == Status.DELETED


def test_a_held_export_is_skipped_and_listed(ledger: ExportLedger, export_in: ExportIn) -> None:
    held, free = export_in(Status.COMPLETED), export_in(Status.COMPLETED)
    hold_id, _ = ledger.place_hold(held, matter="M-7", actor="admin")
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    run = ledger.retain(AllExports(ledger, [held, free]), now=now())
    assert run.applied == [free]
    assert [(h.export_id, h.hold_id, h.matter) for h in run.held] == [(held, hold_id, "M-7")]
    with pytest.raises(ExportOnHold):
        ledger._load(held).apply_retention("system", "ret_x", now())


def test_a_dry_run_records_nothing(ledger: ExportLedger, export_in: ExportIn) -> None:
    export_id = export_in(Status.COMPLETED)
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    run = ledger.retain(AllExports(ledger, [export_id]), now=now(), dry_run=True)
    assert run.applied == [export_id]
    assert [e.type for e in ledger.history(export_id)][-1] != "RetentionApplied"


def test_not_due_yet_and_filtered_out_are_left(ledger: ExportLedger, export_in: ExportIn) -> None:
    export_id = export_in(Status.COMPLETED)
    ledger.set_retention(after="1d", basis="completion", format="csv", actor="admin")
    ledger.set_retention(after="9999d", basis="completion", actor="admin")
    finder = AllExports(ledger, [export_id])
    assert ledger.retain(finder, now=now()).applied == []
    decision = ledger.retention_of(export_id)
    assert decision is not None and decision.policy.after == timedelta(days=9999)
    [checked] = finder.remembered  # the decision, for the next run to skip the export
    assert checked.originator_id == aggregate_id(export_id)
    assert checked.version == ledger._load(export_id).version
    assert checked.due_at == decision.due_at


def test_held_and_dry_runs_are_not_remembered(ledger: ExportLedger, export_in: ExportIn) -> None:
    held, free = export_in(Status.COMPLETED), export_in(Status.COMPLETED)
    ledger.place_hold(held, matter="M-7", actor="admin")
    ledger.set_retention(after="9999d", basis="completion", actor="admin")
    dry = AllExports(ledger, [held, free])
    ledger.retain(dry, now=now(), dry_run=True)
    assert dry.remembered == []
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    finder = AllExports(ledger, [held, free])
    ledger.retain(finder, now=now() + timedelta(days=20000))
    assert finder.remembered == []  # one held (looked at again), one shed


def test_policies_are_events_with_who_and_when(ledger: ExportLedger) -> None:
    assert ledger.retention_policies() == []
    first = ledger.set_retention(after="90d", basis="expiry", status="expired", actor="dpo")
    assert (first.basis, first.status, first.set_by) == (Basis.EXPIRY, "expired", "dpo")
    assert first.describe() == "after 90d from expiry, status expired"
    ledger.remove_retention(first.policy_id, actor="dpo")
    assert ledger.retention_policies() == []
    with pytest.raises(RetentionPolicyNotFound):
        ledger.remove_retention(first.policy_id, actor="dpo")
    with pytest.raises(InvalidExport, match="from must be one of"):
        ledger.set_retention(after="1d", basis="creation", actor="dpo")


def test_the_in_memory_key_store_sheds_the_key_too(
    ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.COMPLETED)
    before = next(e for e in ledger.history(export_id) if e.type == "Completed")
    assert before.data["file_url"] != SHED_TEXT
    ledger.set_retention(after="1d", basis="completion", actor="admin")
    ledger.retain(AllExports(ledger, [export_id]), now=now())
    after = next(e for e in ledger.history(export_id) if e.type == "Completed")
    assert after.data["file_url"] == SHED_TEXT  # its events no longer open
