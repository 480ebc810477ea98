"""GroupCommitter without a database: the record function is a fake store
that keeps (originator_id, version) unique like the events table does."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.ledger.group_commit import GroupCommitter, _Pending


@dataclass(frozen=True)
class FakeEvent:
    originator_id: UUID
    originator_version: int


class FakeStore:
    def __init__(self) -> None:
        self.rows: list[FakeEvent] = []
        self.transactions: list[int] = []
        self.fail_with: BaseException | None = None
        self.seconds = 0.0  # how long a transaction takes

    def record(self, events: list[Any], keys: list[Any]) -> Sequence[Any]:
        if self.fail_with is not None:
            raise self.fail_with
        time.sleep(self.seconds)
        keys = {(e.originator_id, e.originator_version) for e in self.rows}
        if any((e.originator_id, e.originator_version) in keys for e in events):
            raise IntegrityError("duplicate key")
        self.rows.extend(events)
        self.transactions.append(len(events))
        return [(e, len(self.rows) - len(events) + i + 1) for i, e in enumerate(events)]


def submit_all(committer: GroupCommitter, batches: list[list[FakeEvent]]) -> list[Any]:
    """Submit each batch from a thread of its own, all threads released at once."""
    results: list[Any] = [None] * len(batches)
    start = threading.Barrier(len(batches))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = committer.submit(batches[i])
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_commands_share_transactions() -> None:
    store = FakeStore()
    store.seconds = 0.02  # callers that arrive while one commits queue up behind it
    committer = GroupCommitter(store.record, window=0.05)
    batches = [[FakeEvent(uuid4(), 1)] for _ in range(20)]
    results = submit_all(committer, batches)
    committer.close()
    assert all(not isinstance(r, Exception) for r in results)
    assert sum(store.transactions) == 20
    assert len(store.transactions) < 20
    for batch, recordings in zip(batches, results, strict=True):
        assert [r[0] for r in recordings] == batch


def test_a_twin_in_the_batch_fails_alone_in_arrival_order() -> None:
    store = FakeStore()
    committer = GroupCommitter(store.record)
    export = uuid4()
    first, twin, other = [FakeEvent(export, 2)], [FakeEvent(export, 2)], [FakeEvent(uuid4(), 1)]
    batch = [_Pending(first), _Pending(twin), _Pending(other)]  # one batch, in arrival order
    committer._commit(batch)
    committer.close()
    assert store.rows == [*first, *other]
    assert store.transactions == [2]
    assert [p.error is None for p in batch] == [True, False, True]
    assert isinstance(batch[1].error, IntegrityError)


def test_a_conflict_with_another_writer_fails_only_its_command() -> None:
    store = FakeStore()
    taken = FakeEvent(uuid4(), 1)
    store.rows.append(taken)
    committer = GroupCommitter(store.record, window=0.05)
    batches = [
        [FakeEvent(uuid4(), 1)],
        [FakeEvent(taken.originator_id, 1)],
        [FakeEvent(uuid4(), 1)],
    ]
    results = submit_all(committer, batches)
    committer.close()
    assert isinstance(results[1], IntegrityError)
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)
    assert len(store.rows) == 3


def test_an_outage_fails_every_command_of_the_batch() -> None:
    store = FakeStore()
    store.fail_with = OperationalError("server closed the connection")
    committer = GroupCommitter(store.record, window=0.05)
    results = submit_all(committer, [[FakeEvent(uuid4(), 1)] for _ in range(5)])
    committer.close()
    assert all(isinstance(r, OperationalError) for r in results)
    assert store.rows == []


@pytest.mark.parametrize("group_commit", [False, True])
def test_the_ledger_gives_the_same_answers_with_group_commit(group_commit: bool) -> None:
    from domain.ledger.application import ExportLedger

    ledger = ExportLedger(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, group_commit=group_commit
    )
    state = ledger.request_export(user_id="u", format="csv", config=None, conversation_count=1)
    ledger.start_processing(state.export_id)
    assert ledger.get(state.export_id).status == "processing"
    assert [e.type for e in ledger.history(state.export_id)] == ["Requested", "ProcessingStarted"]
    ledger.close()


def test_callers_commit_on_their_own_threads() -> None:
    """No committer thread: a lone caller stores its own events, and under load
    every transaction runs on the thread of one of the callers in it."""
    store = FakeStore()
    store.seconds = 0.005
    committers: list[threading.Thread] = []
    record = store.record

    def recording(events: list[Any], keys: list[Any]) -> Sequence[Any]:
        committers.append(threading.current_thread())
        return record(events, keys)

    committer = GroupCommitter(recording, window=0.01)
    committer.submit([FakeEvent(uuid4(), 1)])
    assert committers == [threading.current_thread()]
    callers = threading.enumerate()
    results = submit_all(committer, [[FakeEvent(uuid4(), 1)] for _ in range(12)])
    committer.close()
    assert all(not isinstance(r, Exception) for r in results)
    assert sum(store.transactions) == 13 and len(store.transactions) < 13
    assert not set(committers[1:]) & set(callers)  # the submitting threads, none older
