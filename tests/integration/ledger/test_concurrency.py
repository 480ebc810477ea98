"""Optimistic concurrency on PostgreSQL: two commands on one export at the same
version cannot both be recorded, and concurrent work on different exports never
collides or loses an event."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.exceptions import ConcurrentModification
from domain.exports.ids import aggregate_id
from domain.exports.model import ExportLog
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from tests.integration.helpers import FILE_URL, complete, request, run_together, stored_rows

Command = Callable[[ExportLedger, str], ExportState]

COMMANDS: dict[str, Command] = {
    "start": lambda app, eid: app.start_processing(eid, actor="worker-a"),
    "fail": lambda app, eid: app.fail(eid, error_message="boom", actor="worker-a"),
    "complete": lambda app, eid: app.complete(
        eid, file_size=1, file_url=FILE_URL, actor="worker-b"
    ),
    "delete": lambda app, eid: app.delete(eid, actor="admin", reason="gdpr"),
}
EVENT_OF = {
    "start": "ProcessingStarted",
    "fail": "Failed",
    "complete": "Completed",
    "delete": "Deleted",
}


def pause_after_loading(
    monkeypatch: pytest.MonkeyPatch, app: ExportLedger, barrier: threading.Barrier
) -> None:
    """Make ``app``'s commands wait, once they have loaded their export, until
    every party of ``barrier`` has loaded too: all then decide on the same version."""
    load = app._load

    def load_then_wait(export_id: str, version: int | None = None) -> ExportLog:
        export = load(export_id, version)
        barrier.wait(timeout=10)
        return export

    monkeypatch.setattr(app, "_load", load_then_wait)


def only(results: list[Any], kind: type) -> list[Any]:
    return [r for r in results if isinstance(r, kind)]


@pytest.mark.parametrize(
    ("processing", "first", "second"),
    [
        (False, "start", "start"),
        (False, "start", "delete"),
        (True, "fail", "complete"),
        (True, "complete", "delete"),
    ],
)
def test_two_commands_on_one_version_record_exactly_one(
    ledger: ExportLedger,
    open_ledgers: Callable[..., ExportLedger],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    processing: bool,
    first: str,
    second: str,
) -> None:
    """Two API workers (each with its own connection pool) race on one export."""
    export_id = request(ledger).export_id
    if processing:
        ledger.start_processing(export_id)
    base = ledger.get(export_id).version
    worker_a, worker_b = open_ledgers(), open_ledgers()
    barrier = threading.Barrier(2)
    pause_after_loading(monkeypatch, worker_a, barrier)
    pause_after_loading(monkeypatch, worker_b, barrier)

    results = run_together(
        lambda: COMMANDS[first](worker_a, export_id),
        lambda: COMMANDS[second](worker_b, export_id),
    )

    winners = only(results, ExportState)
    losers = only(results, ConcurrentModification)
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].export_id == export_id
    winner = winners[0]
    assert winner.version == base + 1
    history = ledger.history(export_id)
    assert [e.version for e in history] == list(range(1, base + 2))
    assert history[-1].type == EVENT_OF[first if results[0] is winner else second]
    assert history[-1].position == winner.position
    assert len(stored_rows(database_url)) == base + 1
    # What the winner was told is what is stored; the loser left no trace.
    assert ledger.get(export_id) == replace(winner, position=None)


def test_aggregates_loaded_at_the_same_version_save_once(
    ledger: ExportLedger, database_url: str
) -> None:
    """The same race one level down: two copies of the aggregate, both mutated,
    saved from two threads released together."""
    export_id = request(ledger).export_id
    copy_a = ledger.repository.get(aggregate_id(export_id))
    copy_b = ledger.repository.get(aggregate_id(export_id))
    assert copy_a.version == copy_b.version == 1
    copy_a.start_processing("worker-a")
    copy_b.delete("worker-b", "gdpr")
    barrier = threading.Barrier(2)

    def save(export: ExportLog) -> ExportState:
        barrier.wait(timeout=10)
        return ledger._save(export)

    results = run_together(lambda: save(copy_a), lambda: save(copy_b))

    winners = only(results, ExportState)
    assert len(winners) == 1, results
    assert len(only(results, ConcurrentModification)) == 1, results
    history = ledger.history(export_id)
    assert len(history) == 2
    a_won = results[0] is winners[0]
    expected = ("ProcessingStarted", "worker-a") if a_won else ("Deleted", "worker-b")
    assert (history[1].type, history[1].actor) == expected
    assert ledger.get(export_id).status == winners[0].status
    assert [r["originator_version"] for r in stored_rows(database_url)] == [1, 2]


def test_the_library_level_conflict_is_an_integrity_error(ledger: ExportLedger) -> None:
    """What ExportLedger._save translates: a second save of the same version."""
    export_id = request(ledger).export_id
    copy_a = ledger.repository.get(aggregate_id(export_id))
    copy_b = ledger.repository.get(aggregate_id(export_id))
    copy_a.start_processing("a")
    copy_b.start_processing("b")
    ledger.save(copy_a)
    with pytest.raises(IntegrityError):
        ledger.save(copy_b)
    assert [e.actor for e in ledger.history(export_id)] == ["u1", "a"]


def test_contended_commands_retried_until_recorded_lose_nothing(ledger: ExportLedger) -> None:
    """Eight users download one export at once, each retrying on conflict:
    eight Downloaded events, versions without gaps, and a count of eight."""
    export_id = request(ledger).export_id
    complete(ledger, export_id)
    barrier = threading.Barrier(8)
    conflicts = []

    def download(user: str) -> ExportState:
        barrier.wait(timeout=10)
        while True:
            try:
                return ledger.record_download(export_id, actor=user)
            except ConcurrentModification:
                conflicts.append(user)

    users = [f"user-{n}" for n in range(8)]
    results = run_together(*(lambda u=u: download(u) for u in users))

    assert all(isinstance(r, ExportState) for r in results), results
    history = ledger.history(export_id)
    downloads = [e for e in history if e.type == "Downloaded"]
    assert sorted(e.actor for e in downloads) == users
    assert [e.version for e in history] == list(range(1, 12))
    assert ledger.get(export_id).download_count == 8
    assert sorted(r.version for r in results) == list(range(4, 12))


def test_many_threads_on_different_exports_all_succeed(
    ledger: ExportLedger, database_url: str
) -> None:
    exports, threads, steps = 24, 8, 5

    def lifecycle(n: int) -> list[ExportState]:
        first = request(ledger, f"user-{n}")
        export_id = first.export_id
        return [
            first,
            ledger.start_processing(export_id, actor=f"worker-{n}"),
            ledger.complete(export_id, file_size=n, file_url=f"s3://x/{n}", actor=f"worker-{n}"),
            ledger.record_download(export_id, actor=f"user-{n}"),
            ledger.record_download(export_id, actor=f"user-{n}"),
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        runs = list(pool.map(lifecycle, range(exports)))

    rows = stored_rows(database_url)
    assert len(rows) == exports * steps
    ids = [r["notification_id"] for r in rows]
    # No conflicts, so no rolled-back inserts: the log is gapless, every event once.
    assert ids == list(range(1, exports * steps + 1))
    assert len({(r["originator_id"], r["originator_version"]) for r in rows}) == len(rows)
    for n, states in enumerate(runs):
        export_id = states[0].export_id
        history = ledger.history(export_id)
        assert [e.version for e in history] == list(range(1, steps + 1))
        assert [e.position for e in history] == [s.position for s in states]
        assert {e.actor for e in history} == {f"user-{n}", f"worker-{n}"}
        final = ledger.get(export_id)
        assert (final.status, final.download_count, final.file_size) == ("completed", 2, n)
    assert ledger.head_position() == exports * steps
