"""Following a slot: peek, plan, append with the position, then advance the slot.

Each round reads the source's flushed WAL position ``upto`` and peeks the slot's
transactions committed before it. Their changes not yet recorded (by the stored
position) are planned in batches (domain/sync/source_changes.py); a batch's events and
the position after it are one ledger transaction, also when the batch records no
event. A batch ends at a transaction's end, or inside a huge transaction after
``batch_size`` changes (each chunk stores its ordinal). Only then is the slot
advanced, to the last whole transaction stored: a crash in between re-sends what
the stored position already has, and it is skipped.

When a round read everything before ``upto`` (fewer messages than the peek's
limit), nothing of the table committed before it is left, and the position may
move to ``upto`` itself: the slot then lets the source recycle its WAL although the
table is idle. That is done every ``idle_interval`` seconds, not every round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from domain.exceptions import ConcurrentModification, SubjectErased
from domain.exports.model import ExportLog
from domain.ledger.application import ExportLedger
from domain.privacy import SUBJECT_ATTRIBUTE
from domain.sync.batch import SyncPlan, read_exports_by_id
from domain.sync.change_stream import ChangeStream, Transaction
from domain.sync.source_changes import Change, ChangePlan, Position, Refusal, plan_changes
from projections.importing.export_copies import ExportCopies
from projections.importing.importer import EventTableExports
from projections.importing.logical import LogicalSource, SyncRefused
from projections.importing.sync_position import BatchEnd, Stored, SyncState

OnRefused = Callable[[Refusal], None]
_ATTEMPTS = 5
NEAR_WAL_LIMIT_BYTES = 64 * 1024 * 1024
"""Warn when the source may remove the slot's WAL within this many more bytes."""


@dataclass
class FollowProgress:
    changes: int = 0
    transactions: int = 0
    refused: int = 0
    lag_bytes: int = 0
    truncated: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class Follower:
    ledger: ExportLedger
    source: LogicalSource
    state: SyncState
    known: EventTableExports
    stored: Stored
    schema: str
    table: str
    batch_size: int = 1000
    peek_limit: int = 20_000
    poll_seconds: float = 0.1
    idle_interval: float = 10.0
    on_refused: OnRefused = lambda _: None
    on_progress: Callable[[FollowProgress], None] = lambda _: None
    on_warning: Callable[[str], None] = lambda _: None
    progress: FollowProgress = field(default_factory=FollowProgress)
    watch_interval: float = 2.0
    _last_idle_move: float = field(default_factory=time.monotonic)
    _last_watch: float = 0.0
    _wal_status: str | None = None
    _advanced: int = 0
    exports: ExportCopies = field(init=False)

    def __post_init__(self) -> None:
        self.exports = ExportCopies(self.state.latest_versions)

    def run(self, stopping: threading.Event, *, until_idle: bool = False) -> None:
        """Follow until ``stopping`` is set (the batch in hand is finished first), or,
        with ``until_idle``, until a round finds nothing new."""
        while not stopping.is_set():
            found = self.round(stopping)
            self.on_progress(self.progress)
            if found == 0:
                if until_idle:
                    return
                stopping.wait(self.poll_seconds)

    def round(self, stopping: threading.Event) -> int:
        """One peek and everything it brought; how many changes were taken in."""
        upto = self.source.flush_lsn()
        messages = self.source.peek(self.stored.publication, upto, self.peek_limit)
        stream = ChangeStream(self.schema, self.table)
        taken = 0
        batch: list[tuple[Change, int]] = []
        empty: Transaction | None = None
        for transaction in _transactions(stream, messages):
            self.progress.transactions += 1
            if transaction.truncated:
                self.progress.truncated += 1
                self.on_warning("the source table was truncated: TRUNCATE is not followed")
            size = len(transaction.changes)
            if size == 0 and not self.stored.has(Position(transaction.end_lsn, 0)):
                empty = transaction
            for change in transaction.changes:
                if self.stored.has(change.position):
                    continue
                batch.append((change, size))
                if len(batch) >= self.batch_size:
                    taken += self._flush(batch, upto)
                    batch = []
                    if stopping.is_set():
                        self._advance()
                        return taken
        if batch:
            taken += self._flush(batch, upto)
        if empty is not None and empty.end_lsn > self.stored.end_lsn:
            self._commit([], BatchEnd(Position(empty.end_lsn, 0), True, empty.commit_time, 0, 0))
        complete = len(messages) < self.peek_limit
        if complete and not messages and upto > self.stored.end_lsn and self._idle_due():
            self._commit([], BatchEnd(Position(upto, 0), True, None, 0, 0))
        self._advance()
        self._watch_slot(upto)
        return taken

    def _flush(self, batch: list[tuple[Change, int]], upto: int) -> int:
        last, size = batch[-1]
        lag = max(upto - last.position.end_lsn, 0)
        done = last.position.ordinal == size
        end = BatchEnd(last.position, done, last.commit_time, lag, len(batch))
        return self._commit([change for change, _ in batch], end)

    def _commit(self, batch: list[Change], end: BatchEnd) -> int:
        """The batch planned and appended with the position after it; re-planned when
        another writer changed one of its exports meanwhile."""
        unrecordable: dict[str, str] = {}
        for attempt in range(_ATTEMPTS):
            plan = self._plan(batch, unrecordable)
            try:
                self.stored = self._append(plan, end)
            except ConcurrentModification:
                self.exports.forget(plan.exports)
                if attempt + 1 == _ATTEMPTS:
                    raise
                continue
            except SubjectErased:
                self.exports.forget(plan.exports)
                unrecordable.update(self._unsealable(batch, unrecordable))
                if attempt + 1 == _ATTEMPTS:
                    raise
                continue
            except BaseException:
                self.exports.forget(plan.exports)
                raise
            self.exports.remember(plan.exports.values())
            for refusal in plan.refused:
                self.on_refused(refusal)
            self.progress.changes += plan.applied
            self.progress.refused += len(plan.refused)
            self.progress.lag_bytes = end.lag_bytes or 0
            return plan.applied + len(plan.refused)
        raise AssertionError("unreachable")

    def _append(self, plan: ChangePlan, end: BatchEnd) -> Stored:
        """The plan's events and the position after them in one ledger transaction."""
        if not any(e.pending_events for e in plan.exports.values()):
            return self.state.write_batch_alone(self.stored, end, plan)
        written: list[Stored] = []
        was = self.stored

        def write_state(cursor: Any) -> None:
            written.append(self.state.write_batch(cursor, was, end, plan))

        self.ledger.append_plan(SyncPlan(exports=plan.exports), also=write_state)
        return written[-1]

    def _unsealable(self, batch: list[Change], known: dict[str, str]) -> dict[str, str]:
        """The exports of the batch whose events cannot be sealed (their data subject
        was erased), with the reason: found by mapping each export's events alone."""
        plan = self._plan(batch, known)
        found: dict[str, str] = {}
        for export_id, export in plan.exports.items():
            for pending in export.pending_events:
                vars(pending)[SUBJECT_ATTRIBUTE] = export.user_id
                try:
                    self.ledger.mapper.to_stored_event(pending)
                except SubjectErased as error:
                    found[export_id] = str(error)
                    break
        self.exports.forget(plan.exports)  # planned on, never appended
        return found

    def _plan(self, batch: list[Change], unrecordable: dict[str, str] | None = None) -> ChangePlan:
        if not batch:
            return ChangePlan()
        export_of = self.state.exports_of([c.source_id for c in batch])
        export_ids = set(export_of.values())
        user_ids: set[str] = set()
        for change in batch:
            for name, into in (("export_id", export_ids), ("user_id", user_ids)):
                value = change.values.get(name)
                if isinstance(value, str):
                    into.add(value)
        found = self.exports.current(export_ids, self._read_exports(user_ids))
        return plan_changes(batch, found, export_of, unrecordable=unrecordable)

    def _read_exports(self, user_ids: set[str]) -> Callable[[set[str]], dict[str, ExportLog]]:
        def read(export_ids: set[str]) -> dict[str, ExportLog]:
            return read_exports_by_id(self.known, self.ledger.mapper, export_ids, user_ids)

        return read

    def _advance(self) -> None:
        """The slot moved to the stored position, when that is a whole transaction's end
        and past where it was last moved (each advance decodes WAL on the source)."""
        if self.stored.done and self.stored.end_lsn > self._advanced:
            self.source.advance(self.stored.end_lsn)
            self._advanced = self.stored.end_lsn

    def _idle_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_idle_move < self.idle_interval:
            return False
        self._last_idle_move = now
        return True

    def _watch_slot(self, upto: int) -> None:
        """Every ``watch_interval``: the slot's WAL status checked, the lag stored."""
        now = time.monotonic()
        if now - self._last_watch < self.watch_interval:
            return
        self._last_watch = now
        slot = self.source.slot_state()
        if slot is None:
            raise SyncRefused(f"the slot {self.source.slot} was dropped: import again")
        if slot.wal_status == "lost":
            raise SyncRefused(
                f"the source removed WAL the slot {self.source.slot} still needed (wal_status "
                "lost): changes are lost; run import --drop-slot, then import --follow again"
            )
        near = slot.safe_wal_size is not None and slot.safe_wal_size < NEAR_WAL_LIMIT_BYTES
        status = "unreserved" if near else slot.wal_status
        warned, self._wal_status = self._wal_status, status
        if status == "unreserved" and warned != "unreserved":
            self.on_warning(
                f"the slot {self.source.slot} is at or near max_slot_wal_keep_size "
                f"({slot.wal_status}, {slot.safe_wal_size} bytes to spare): follow faster or "
                "its WAL will be removed"
            )
        lag = max(upto - self.stored.end_lsn, 0) if self.stored.done else None
        self.state.record_lag(lag, slot.wal_status)


def _transactions(stream: ChangeStream, messages: list[tuple[int, bytes]]) -> Iterator[Transaction]:
    for _lsn, data in messages:
        transaction = stream.feed(data)
        if transaction is not None:
            yield transaction


def reconcile(source: LogicalSource, stored: Stored) -> None:
    """Start-up: the slot and the stored position agree, or the slot is moved up to
    the stored position (a slot's position is saved only at checkpoints); a slot past
    it means changes the ledger never recorded were consumed: SyncRefused."""
    slot = source.slot_state()
    again = "run import --drop-slot, then import --follow to import again"
    if slot is None:
        raise SyncRefused(
            f"the source has no slot {source.slot} any more: changes were lost; {again}"
        )
    if slot.confirmed > stored.end_lsn or (not stored.done and slot.confirmed == stored.end_lsn):
        raise SyncRefused(
            f"the slot {source.slot} is past the ledger's stored position: changes were lost; "
            f"{again}"
        )
    if stored.done and stored.end_lsn > slot.confirmed:
        source.advance(stored.end_lsn)
