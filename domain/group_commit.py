"""Group commit: many concurrent commands saved in one transaction.

The event store serialises writers with a table lock (what keeps the log
gap-safe), so one command per transaction tops out near the disk's commit
rate. Here callers hand their new events to one committer thread, which
gathers what arrives within a short window and stores it with one insert in
one transaction. Each caller still gets its own outcome, and only after the
transaction holding its events has committed.

- Events of one batch keep arrival order, so several commands on the same
  export apply in the order they came.
- Two commands that both extend the same aggregate version conflict: the
  later one fails alone, with the error it would have had on its own.
- If the batch's transaction fails on a conflict with another process, the
  batch is retried one command at a time, so only the conflicting command
  fails.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

Record = Callable[[list[Any]], Sequence[Any]]


@dataclass
class _Pending:
    events: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    recordings: Sequence[Any] = ()
    error: BaseException | None = None


class GroupCommitter:
    """Saves the events of concurrent callers in shared transactions."""

    def __init__(self, record: Record, *, window: float = 0.002, max_batch: int = 100) -> None:
        self._record = record
        self._window = window
        self._max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, events: list[Any]) -> Sequence[Any]:
        """Store ``events`` in the next batch; returns their recordings once
        committed, or raises what storing them alone would have raised."""
        pending = _Pending(events)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.recordings

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while (batch := self._gather()) is not None:
            self._commit(batch)

    def _gather(self) -> list[_Pending] | None:
        """The first waiting command, everything queued behind it and, when
        others were queued too (callers are busy), what arrives within the
        window. A lone caller is not kept waiting for company."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        window = self._window if self._queue.qsize() else 0.0
        deadline = time.monotonic() + window
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # closing: commit this batch first
                break
            batch.append(item)
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._store(_refuse_twins(batch))
        finally:
            for pending in batch:
                pending.done.set()

    def _store(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            recordings = list(self._record([e for p in batch for e in p.events]))
        except IntegrityError as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            for pending in batch:  # someone else got in first: find out who
                self._store([pending])
            return
        except BaseException as error:
            for pending in batch:
                pending.error = error
            return
        for pending in batch:
            count = len(pending.events)
            pending.recordings, recordings = recordings[:count], recordings[count:]


def _refuse_twins(batch: list[_Pending]) -> list[_Pending]:
    """Fail, in arrival order, commands extending a version already taken in
    this batch; return the rest."""
    taken: set[tuple[UUID, int]] = set()
    admitted = []
    for pending in batch:
        keys = {(e.originator_id, e.originator_version) for e in pending.events}
        if keys & taken:
            pending.error = IntegrityError("another command in the batch got there first")
            continue
        taken |= keys
        admitted.append(pending)
    return admitted
