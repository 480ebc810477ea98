"""How the ledger saves events, and its commands over many exports at once.

:class:`LedgerWrites` builds the application's transcoder and privacy mapper, saves a
command's aggregates (alone, or in a shared transaction: domain/ledger/group_commit.py),
and runs the commands that work through many exports: the expiry run and the import's
rows. Storage is configured entirely by the ``env`` mapping the composition root passes
in (the ``eventsourcing`` library's convention); nothing here knows about SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import resolve_topic

from domain.exceptions import (
    ConcurrentModification,
    ConfigurationError,
    ExportNotFound,
)
from domain.exports.model import SYSTEM_ACTOR, ExportLog, IdempotencyClaim
from domain.exports.rules import (
    aware,
    check_no_nul,
)
from domain.exports.views import ExportState
from domain.ledger.erasure import SubjectCommands
from domain.ledger.group_commit import GroupCommitter
from domain.ledger.reads import translated_errors
from domain.ledger.transcoder import OrjsonTranscoder
from domain.privacy import (
    SUBJECT_KEYS_TOPIC,
    ExportKeysRefused,
    MemoryKeys,
    NewExportKey,
    PrivacyMapper,
    SubjectKeys,
)
from domain.sync.batch import BulkRecorder, StoredExports, Synced, SyncPlan, plan_rows, read_exports
from domain.sync.rows import IMPORT_ACTOR, SourceRow

_SYNC_ATTEMPTS = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class DueExportFinder(Protocol):
    """Lists export ids that may be due to expire, after ``after``, in id order."""

    def find_due(self, now: datetime, after: str | None, limit: int) -> Sequence[str]: ...


def _subject_keys(env: Mapping[str, str]) -> SubjectKeys:
    """The key store the settings name (SUBJECT_KEYS_TOPIC), else one in memory."""
    topic = env.get(SUBJECT_KEYS_TOPIC)
    if not topic:
        return MemoryKeys()
    keys: SubjectKeys = resolve_topic(topic).from_env(env)
    return keys


class ExpiryRun(NamedTuple):
    """What one run of the expiry job did: how many it expired, and how many due
    exports it left because a legal hold is open on them."""

    expired: int
    on_hold: int


class LedgerWrites(SubjectCommands):
    """The ledger's write path (ExportLedger's base: domain/ledger/application.py)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        group_commit: bool = False,
        subject_keys: SubjectKeys | None = None,
    ) -> None:
        """With ``group_commit``, concurrent commands share transactions
        (see domain/ledger/group_commit.py); each still waits for its own commit.
        ``subject_keys`` seal personal fields (domain/privacy); in memory if not given."""
        self.subject_keys = subject_keys or _subject_keys(env or {})
        super().__init__(env=dict(env) if env is not None else None)
        self._clock = clock
        self._committer = GroupCommitter(self._insert) if group_commit else None
        # A new export's key goes with its first event, in the events' transaction,
        # when the recorder can take it there (api/wiring/eventstore.py); else the
        # key store makes it first, in a transaction of its own.
        self._keys_with_events = bool(getattr(self.recorder, "stores_export_keys", False))

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, written faster (domain/ledger/transcoder.py)."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        """Every event written and read goes through the privacy mapper."""
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=PrivacyMapper
        )
        assert isinstance(mapper, PrivacyMapper)
        mapper.keys = self.subject_keys
        return mapper

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        super().close()
        closing = getattr(self.subject_keys, "close", None)
        if callable(closing):
            closing()

    def expire_due(
        self, finder: DueExportFinder, now: datetime | None = None, batch_size: int = 500
    ) -> int:
        """Expire every completed export whose ``expires_at`` has passed; how many."""
        return self.expire_due_run(finder, now, batch_size).expired

    def expire_due_run(
        self, finder: DueExportFinder, now: datetime | None = None, batch_size: int = 500
    ) -> ExpiryRun:
        """Expire every completed export whose ``expires_at`` has passed, but those
        under a legal hold (counted in ``on_hold``).

        Candidates come from ``finder`` and are re-checked against their events, so
        a stale finder, a second run, or a concurrent run never expires twice:
        an export another run got to first is skipped.
        """
        moment = aware(now) if now is not None else self._clock()
        expired, held, after = 0, 0, None
        while True:
            candidates = finder.find_due(moment, after, batch_size)
            if not candidates:
                return ExpiryRun(expired, held)
            done, skipped = self._expire_batch(candidates, moment)
            expired, held = expired + done, held + skipped
            after = candidates[-1]

    def sync_rows(
        self,
        rows: Sequence[SourceRow],
        *,
        actor: str = IMPORT_ACTOR,
        known: StoredExports | None = None,
        dry_run: bool = False,
    ) -> list[Synced]:
        """Record each row of another system's table as events (domain/sync/rows.py), the
        rows that need any in one append; a row that cannot be recorded is reported in
        its result and records nothing. ``dry_run`` plans the same way and records
        nothing. When another command changed one of the exports since they were
        read, the rows are planned again on what it recorded."""
        for attempt in range(_SYNC_ATTEMPTS):
            plan = self.plan_rows(rows, actor=actor, known=known)
            if dry_run:
                return plan.results
            try:
                self.append_plan(plan)
                return plan.results
            except ConcurrentModification:
                if attempt + 1 == _SYNC_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def plan_rows(
        self,
        rows: Sequence[SourceRow],
        *,
        actor: str = IMPORT_ACTOR,
        known: StoredExports | None = None,
    ) -> SyncPlan:
        """What syncing ``rows`` would record, on their exports as stored now: read in
        one call to ``known``, else loaded one by one."""
        found = (
            read_exports(known, self.mapper, rows)
            if known is not None
            else {
                r.export_id: e
                for r in rows
                if isinstance(r.export_id, str) and (e := self._find(r.export_id))
            }
        )
        return plan_rows(rows, found, actor)

    def append_plan(self, plan: SyncPlan, also: Callable[[Any], object] | None = None) -> None:
        """A plan's events in one append (its rows were checked for NUL characters);
        ConcurrentModification when one of its exports changed since it was planned.
        ``also`` runs in the append's transaction, on its cursor (the bulk recorder's
        only: ConfigurationError without one)."""
        events = [e for export in plan.exports.values() for e in export.collect_events()]
        if not events:
            return
        if also is not None and not isinstance(self.recorder, BulkRecorder):
            raise ConfigurationError("this event store cannot record a live sync's position")
        with translated_errors("import batch"):
            if isinstance(self.recorder, BulkRecorder):
                self.recorder.insert_events_in_bulk(self._stored(events), also)
            else:
                self.events.put(events)

    def record(self, *exports: ExportLog) -> list[ExportState]:
        """The pending events of ``exports`` (built by domain/ledger/rows.py) in one
        append: every one of them or none. Their states after it, in order."""
        changed = [e for e in exports if e.pending_events]
        if changed:
            self._save(*changed)
        return [ExportState.of(e) for e in exports]

    # -- helpers --------------------------------------------------------------

    def _save(self, *aggregates: ExportLog | IdempotencyClaim) -> ExportState:
        export = aggregates[0]
        assert isinstance(export, ExportLog)
        for aggregate in aggregates:
            for pending in aggregate.pending_events:
                check_no_nul(vars(pending))
        # Straight to the recorder, not through Application.save: its
        # runtime-checkable protocol checks were a sixth of a command's Python,
        # and its hooks (snapshots, _notify) are unused here. Each caller maps its
        # own events, so a group commit's leader only sends them.
        events = [e for aggregate in aggregates for e in aggregate.collect_events()]
        with translated_errors(export.export_id):
            try:
                ids = self._send(events, keys_with_events=self._keys_with_events)
            except ExportKeysRefused:  # a subject erased meanwhile, say: find out
                ids = self._send(events, keys_with_events=False)
        positions = [i for e, i in zip(events, ids, strict=True) if e.originator_id == export.id]
        return ExportState.of(export, positions[-1] if positions else None)

    def _send(self, events: list[Any], *, keys_with_events: bool) -> Sequence[int]:
        """Map and store ``events``; their positions. With ``keys_with_events``, the
        keys of new exports are made here and stored in the events' transaction."""
        keys = self.subject_keys
        deferring = keys.deferring_export_keys() if keys_with_events else nullcontext({})
        with deferring as made:
            stored = [self.mapper.to_stored_event(e) for e in events]
        new = list(made.values())
        committer = self._committer
        ids = committer.submit(stored, new) if committer else self._insert(stored, new)
        keys.export_keys_stored(made)
        return ids

    def _stored(self, events: Sequence[Any]) -> list[StoredEvent]:
        mapper = self.mapper
        if isinstance(mapper, PrivacyMapper):
            return mapper.to_stored_events(events)
        return [mapper.to_stored_event(e) for e in events]

    def _insert(self, stored: list[StoredEvent], keys: list[NewExportKey]) -> Sequence[int]:
        if keys:
            return self.recorder.insert_events(stored, export_keys=keys) or []
        return self.recorder.insert_events(stored) or []

    def _expire_batch(self, candidates: Sequence[str], now: datetime) -> tuple[int, int]:
        """(expired, left on hold) of one page of candidates."""
        due, held = [], 0
        for export_id in candidates:
            try:
                export = self._load(export_id)
            except ExportNotFound:
                continue
            if export.is_due_to_expire(now):
                if export.is_held():
                    held += 1
                    continue
                export.expire(SYSTEM_ACTOR)
                due.append(export)
        if not due:
            return 0, held
        try:
            with translated_errors("expire batch"):
                self.save(*due)
            return len(due), held
        except ConcurrentModification:
            # Another run (or a hold) got to some of them first: redo them one by one.
            results = [self._expire_one(e.export_id, now) for e in due]
            return results.count(1), held + results.count(-1)

    def _expire_one(self, export_id: str, now: datetime) -> int:
        """1 expired, 0 not due (any more), -1 held."""
        export = self._load(export_id)
        if not export.is_due_to_expire(now):
            return 0
        if export.is_held():
            return -1
        export.expire(SYSTEM_ACTOR)
        try:
            self._save(export)
        except ConcurrentModification:
            return 0
        return 1
