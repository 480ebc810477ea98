"""Group commit on PostgreSQL: shared transactions, separate outcomes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from api.wiring.database import ledger_env
from domain.exceptions import ConcurrentModification
from domain.ledger.application import ExportLedger


@pytest.fixture
def grouped(database_url: str) -> Iterator[ExportLedger]:
    ledger = ExportLedger(env=ledger_env(database_url, pool_size=2), group_commit=True)
    yield ledger
    ledger.close()


def test_concurrent_requests_are_all_stored_once(grouped: ExportLedger) -> None:
    states = []

    def request() -> None:
        for _ in range(10):
            states.append(
                grouped.request_export(user_id="u", format="csv", config=None, conversation_count=1)
            )

    threads = [threading.Thread(target=request) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    positions = [s.position for s in states]
    assert len(set(positions)) == 160
    assert grouped.head_position() == max(p for p in positions if p is not None)
    for state in states[:5]:
        assert [e.position for e in grouped.history(state.export_id)] == [state.position]


def test_two_commands_racing_on_one_export_one_wins(grouped: ExportLedger) -> None:
    state = grouped.request_export(user_id="u", format="csv", config=None, conversation_count=1)
    grouped.start_processing(state.export_id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    original_load = grouped._load

    def load_then_wait(export_id: str, version: int | None = None):  # type: ignore[no-untyped-def]
        export = original_load(export_id, version)
        barrier.wait(timeout=5)
        return export

    grouped._load = load_then_wait  # type: ignore[method-assign]

    def command(kind: str) -> None:
        try:
            if kind == "complete":
                grouped.complete(state.export_id, file_size=1, file_url="https://x/y")
            else:
                grouped.fail(state.export_id, error_message="boom")
            outcomes.append(kind)
        except ConcurrentModification:
            outcomes.append("conflict")

    threads = [threading.Thread(target=command, args=(k,)) for k in ("complete", "fail")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("conflict") == 1
    history = grouped.history(state.export_id)
    assert len(history) == 3
    winner = next(o for o in outcomes if o != "conflict")
    assert history[-1].type == {"complete": "Completed", "fail": "Failed"}[winner]
