"""Legal holds on the domain: recorded as events; while one is open the export
cannot expire or be deleted, and the expiry job skips it and says so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest

from domain.exceptions import ExportOnHold, HoldNotFound, IllegalTransition, InvalidExport
from domain.exports.ids import is_hold_id
from domain.exports.values import Status
from domain.ledger.application import ExportLedger
from domain.ledger.writes import ExpiryRun
from tests.unit.conftest import FakeClock

ExportIn = Callable[[Status], str]


class Everything:
    """A DueExportFinder offering every id (the ledger re-checks each)."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = sorted(ids)

    def find_due(self, now: datetime, after: str | None, limit: int) -> list[str]:
        return [i for i in self.ids if after is None or i > after][:limit]


def test_a_hold_is_recorded_with_its_matter(ledger: ExportLedger, export_in: ExportIn) -> None:
    export_id = export_in(Status.COMPLETED)
    hold_id, state = ledger.place_hold(export_id, matter="M-1", reason="notice", actor="admin")
    assert is_hold_id(hold_id)
    assert state.holds == {hold_id: {"matter": "M-1", "reason": "notice", "placed_by": "admin"}}
    assert [e.type for e in ledger.history(export_id)][-1] == "HoldPlaced"
    ledger.release_hold(export_id, hold_id, actor="admin")
    assert ledger.get(export_id).holds == {}
    assert [e.type for e in ledger.history(export_id)][-1] == "HoldReleased"


@pytest.mark.parametrize(
    "command",
    [
        lambda app, e: app.expire(e),
        lambda app, e: app.delete(e, actor="admin", reason="asked"),
    ],
    ids=["expire", "delete"],
)
def test_an_open_hold_refuses_expire_and_delete_naming_it(
    ledger: ExportLedger, export_in: ExportIn, command: Callable[[ExportLedger, str], object]
) -> None:
    export_id = export_in(Status.COMPLETED)
    hold_id, _ = ledger.place_hold(export_id, matter="ACME v. Example", actor="admin")
    before = len(ledger.history(export_id))
    with pytest.raises(ExportOnHold) as refused:
        command(ledger, export_id)
    assert refused.value.hold_id == hold_id
    assert hold_id in str(refused.value) and "ACME v. Example" in str(refused.value)
    assert len(ledger.history(export_id)) == before  # nothing recorded
    ledger.release_hold(export_id, hold_id, actor="admin")
    command(ledger, export_id)  # allowed once released


def test_two_holds_both_must_be_released(ledger: ExportLedger, export_in: ExportIn) -> None:
    export_id = export_in(Status.QUEUED)
    first, _ = ledger.place_hold(export_id, matter="A", actor="admin")
    second, _ = ledger.place_hold(export_id, matter="B", actor="admin")
    ledger.release_hold(export_id, first, actor="admin")
    with pytest.raises(ExportOnHold) as refused:
        ledger.delete(export_id, actor="admin")
    assert refused.value.hold_id == second
    ledger.release_hold(export_id, second, actor="admin")
    assert ledger.delete(export_id, actor="admin").status == Status.DELETED


def test_release_of_an_unknown_or_released_hold_is_refused(
    ledger: ExportLedger, export_in: ExportIn
) -> None:
    export_id = export_in(Status.COMPLETED)
    hold_id, _ = ledger.place_hold(export_id, matter="M", actor="admin")
    ledger.release_hold(export_id, hold_id, actor="admin")
    with pytest.raises(HoldNotFound):
        ledger.release_hold(export_id, hold_id, actor="admin")
    with pytest.raises(HoldNotFound):
        ledger.release_hold(export_id, "hold_nope", actor="admin")


def test_a_deleted_export_takes_no_hold(ledger: ExportLedger, export_in: ExportIn) -> None:
    with pytest.raises(IllegalTransition):
        ledger.place_hold(export_in(Status.DELETED), matter="M", actor="admin")


@pytest.mark.parametrize("matter", ["", "   ", "m" * 201])
def test_a_hold_needs_a_matter(ledger: ExportLedger, export_in: ExportIn, matter: str) -> None:
    with pytest.raises(InvalidExport):
        ledger.place_hold(export_in(Status.QUEUED), matter=matter, actor="admin")


def test_the_expiry_job_skips_held_exports_and_counts_them(
    ledger: ExportLedger, export_in: ExportIn, clock: FakeClock
) -> None:
    held, free = export_in(Status.COMPLETED), export_in(Status.COMPLETED)
    hold_id, _ = ledger.place_hold(held, matter="M", actor="admin")
    later = clock.now + timedelta(days=8)
    finder = Everything([held, free])
    assert ledger.expire_due_run(finder, now=later) == ExpiryRun(expired=1, on_hold=1)
    assert ledger.get(held).status == Status.COMPLETED
    assert ledger.expire_due_run(finder, now=later) == ExpiryRun(expired=0, on_hold=1)
    ledger.release_hold(held, hold_id, actor="admin")
    assert ledger.expire_due(finder, now=later) == 1
    assert ledger.get(held).status == Status.EXPIRED
