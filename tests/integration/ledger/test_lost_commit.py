"""A connection lost after the events committed (a failover at the wrong moment):
the recorder's retry finds its own events and answers with their positions; the
same versions recorded with other contents are another writer's and conflict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from api.wiring.eventstore import LedgerRecorder
from domain.exceptions import ConcurrentModification
from domain.ledger.application import ExportLedger
from tests.integration.helpers import stored_rows

Insert = Callable[..., Sequence[int] | None]


def _lose_connection_after(
    recorder: LedgerRecorder,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[StoredEvent], StoredEvent],
) -> None:
    """The next insert commits ``change`` of its events, then reports a lost connection."""
    real: Insert = recorder._insert
    calls = []

    def insert(stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        calls.append(1)
        if len(calls) == 1:
            real([change(e) for e in stored_events], **kwargs)
            raise OperationalError("server closed the connection unexpectedly")
        return real(stored_events, **kwargs)

    monkeypatch.setattr(recorder, "_insert", insert)


def _request(ledger: ExportLedger) -> str:
    state = ledger.request_export(
        user_id="alice", format="csv", config={}, conversation_count=1, actor="alice"
    )
    return state.export_id


def test_a_commit_whose_answer_was_lost_is_answered_once_recorded(
    ledger: ExportLedger, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = _request(ledger)
    recorder = ledger.recorder
    assert isinstance(recorder, LedgerRecorder)
    _lose_connection_after(recorder, monkeypatch, lambda e: e)

    state = ledger.start_processing(export_id, actor="worker")

    rows = stored_rows(database_url, export_id)
    assert [r["originator_version"] for r in rows] == [1, 2]
    assert state.status == "processing"
    assert state.position == rows[-1]["notification_id"]


def test_other_contents_at_the_same_versions_still_conflict(
    ledger: ExportLedger, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = _request(ledger)
    recorder = ledger.recorder
    assert isinstance(recorder, LedgerRecorder)
    other = b'{"actor":"someone else"}'
    _lose_connection_after(recorder, monkeypatch, lambda e: replace(e, state=other))

    with pytest.raises(ConcurrentModification):
        ledger.start_processing(export_id, actor="worker")

    rows = stored_rows(database_url, export_id)
    assert [r["originator_version"] for r in rows] == [1, 2]
