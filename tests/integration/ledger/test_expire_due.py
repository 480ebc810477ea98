"""expire_due: a finder proposes candidates, the events decide, and however many
runs overlap each due export is expired exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from domain.exports.ids import new_export_id
from domain.ledger.application import ExportLedger
from tests.integration.helpers import complete, request, run_together

NOW = datetime.now(UTC)
LATER = NOW + timedelta(hours=2)


class ListFinder:
    """A DueExportFinder over a fixed list of ids (a stale read model, say)."""

    def __init__(self, export_ids: Sequence[str]) -> None:
        self.export_ids = sorted(export_ids)
        self.calls: list[tuple[str | None, int]] = []

    def find_due(self, now: datetime, after: str | None, limit: int) -> Sequence[str]:
        self.calls.append((after, limit))
        return [e for e in self.export_ids if after is None or e > after][:limit]


def expired_count(ledger: ExportLedger, export_id: str) -> int:
    return sum(1 for e in ledger.history(export_id) if e.type == "Expired")


def due_export(ledger: ExportLedger, user: str = "u1") -> str:
    export_id = request(ledger, user).export_id
    complete(ledger, export_id, expires_at=NOW + timedelta(hours=1))
    return export_id


@pytest.fixture
def mixed(ledger: ExportLedger) -> dict[str, str]:
    """One export in each situation expire_due must tell apart."""
    exports = {"due": due_export(ledger), "due-too": due_export(ledger)}
    exports["not-yet"] = request(ledger).export_id
    complete(ledger, exports["not-yet"], expires_at=NOW + timedelta(days=3))
    exports["queued"] = request(ledger).export_id
    exports["processing"] = request(ledger).export_id
    ledger.start_processing(exports["processing"])
    exports["failed"] = request(ledger).export_id
    ledger.start_processing(exports["failed"])
    ledger.fail(exports["failed"], error_message="x")
    exports["already-expired"] = due_export(ledger)
    ledger.expire(exports["already-expired"])
    exports["deleted"] = due_export(ledger)
    ledger.delete(exports["deleted"], actor="admin")
    exports["missing"] = new_export_id()  # listed by the finder, never stored
    return exports


def test_only_due_exports_expire(ledger: ExportLedger, mixed: dict[str, str]) -> None:
    finder = ListFinder(list(mixed.values()))

    assert ledger.expire_due(finder, now=LATER, batch_size=3) == 2

    statuses = {name: ledger.get(eid).status for name, eid in mixed.items() if name != "missing"}
    assert statuses == {
        "due": "expired",
        "due-too": "expired",
        "not-yet": "completed",
        "queued": "queued",
        "processing": "processing",
        "failed": "failed",
        "already-expired": "expired",
        "deleted": "deleted",
    }
    for name in ("due", "due-too", "already-expired"):
        assert expired_count(ledger, mixed[name]) == 1
        assert ledger.history(mixed[name])[-1].actor == "system"
    # The finder was paged through in batches, each after the last id of the one before.
    ids = finder.export_ids
    assert finder.calls == [(None, 3), (ids[2], 3), (ids[5], 3), (ids[8], 3)]


def test_a_second_run_expires_nothing(ledger: ExportLedger, mixed: dict[str, str]) -> None:
    finder = ListFinder(list(mixed.values()))
    assert ledger.expire_due(finder, now=LATER) == 2
    assert ledger.expire_due(finder, now=LATER) == 0
    assert ledger.expire_due(finder, now=LATER + timedelta(days=30)) == 1  # "not-yet"
    for name in ("due", "due-too", "not-yet"):
        assert expired_count(ledger, mixed[name]) == 1


def test_nothing_is_due_before_its_time(ledger: ExportLedger, mixed: dict[str, str]) -> None:
    finder = ListFinder(list(mixed.values()))
    assert ledger.expire_due(finder, now=NOW) == 0
    assert ledger.get(mixed["due"]).status == "completed"


def test_an_empty_finder_expires_nothing(ledger: ExportLedger) -> None:
    finder = ListFinder([])
    assert ledger.expire_due(finder, now=LATER) == 0
    assert finder.calls == [(None, 500)]


@pytest.mark.parametrize("batch_size", [1, 4, 500])
def test_concurrent_runs_expire_each_export_once(
    ledger: ExportLedger, open_ledgers: Callable[..., ExportLedger], batch_size: int
) -> None:
    """Three schedulers (separate pools) run at once over the same candidates."""
    due = [due_export(ledger, f"user-{n}") for n in range(9)]
    not_due = request(ledger).export_id
    runners = [ledger, open_ledgers(), open_ledgers()]
    barrier = threading.Barrier(len(runners))

    def run(app: ExportLedger) -> int:
        finder = ListFinder([*due, not_due])
        barrier.wait(timeout=10)
        return app.expire_due(finder, now=LATER, batch_size=batch_size)

    results = run_together(*(lambda app=app: run(app) for app in runners))

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == len(due)
    for export_id in due:
        assert expired_count(ledger, export_id) == 1
        assert ledger.get(export_id).status == "expired"
    assert ledger.get(not_due).status == "queued"
