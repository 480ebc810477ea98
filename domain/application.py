"""ExportLedger: the application service that runs commands against the event store.

Storage is configured entirely by the ``env`` mapping the composition root passes
in (the ``eventsourcing`` library's convention); nothing here knows about SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import resolve_topic

from domain.config import normalised
from domain.exceptions import (
    ConcurrentModification,
    ConfigurationError,
    ExportNotFound,
    IdempotencyKeyReused,
    InvalidExport,
    StoreUnavailable,
)
from domain.group_commit import GroupCommitter
from domain.ids import idempotency_claim_id, new_export_id, new_hold_id
from domain.imports import IMPORT_ACTOR, SourceRow
from domain.model import SYSTEM_ACTOR, ExportLog, IdempotencyClaim
from domain.privacy import SUBJECT_KEYS_TOPIC, MemoryKeys, PrivacyMapper, SubjectKeys
from domain.reads import Caller, translated_errors
from domain.rules import (
    aware,
    check_completion,
    check_hold,
    check_no_nul,
    check_request,
    check_sha256,
    check_status,
    request_fingerprint,
)
from domain.subjects import SubjectCommands
from domain.sync import BulkRecorder, StoredExports, Synced, SyncPlan, plan_rows, read_exports
from domain.transcoder import OrjsonTranscoder
from domain.values import Status
from domain.views import ExportState

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


class ExportLedger(SubjectCommands):
    """Commands over ExportLog aggregates (its queries: domain/reads.py; erasure:
    domain/subjects.py)."""

    name = "ExportLedger"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        group_commit: bool = False,
        subject_keys: SubjectKeys | None = None,
    ) -> None:
        """With ``group_commit``, concurrent commands share transactions
        (see domain/group_commit.py); each still waits for its own commit.
        ``subject_keys`` seal personal fields (domain/privacy.py); in memory if not given."""
        self.subject_keys = subject_keys or _subject_keys(env or {})
        super().__init__(env=dict(env) if env is not None else None)
        self._clock = clock
        self._committer = GroupCommitter(self._insert) if group_commit else None

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, written faster (domain/transcoder.py)."""
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

    # -- commands -------------------------------------------------------------

    def request_export(
        self,
        *,
        user_id: str,
        format: str,
        config: Mapping[str, Any] | None,
        conversation_count: int,
        actor: str | None = None,
        idempotency_key: str | None = None,
        status: str | None = None,
    ) -> ExportState:
        """Record a new export; with ``status`` (the seed's initial status) past
        ``queued``, also every move of the legal path there, in the same append."""
        fmt, valid_config = check_request(user_id, format, config, conversation_count)
        target = check_status(status) if status is not None else Status.QUEUED
        export = ExportLog(
            export_id=new_export_id(),
            user_id=user_id,
            format=fmt,
            config=valid_config,
            conversation_count=conversation_count,
            actor=actor or user_id,
        )
        if target != Status.QUEUED:
            export.advance_to(target, actor or user_id)
        if idempotency_key is None:
            return self._save(export)
        fingerprint = request_fingerprint(
            user_id, fmt, normalised(valid_config), conversation_count, target
        )
        claim = IdempotencyClaim(
            claim_id=idempotency_claim_id(user_id, idempotency_key),
            key=idempotency_key,
            export_id=export.export_id,
            fingerprint=fingerprint,
        )
        try:
            return self._save(export, claim)
        except ConcurrentModification:
            return self._replay_claim(user_id, idempotency_key, fingerprint)

    def start_processing(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.start_processing(actor)
        return self._save(export)

    def complete(
        self,
        export_id: str,
        *,
        file_size: int,
        file_url: str,
        expires_at: datetime | None = None,
        file_sha256: str | None = None,
        row_count: int | None = None,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        check_completion(file_size, file_url, expires_at, file_sha256, row_count)
        export = self._load_for(export_id, caller)
        export.complete(actor, file_size, file_url, expires_at, file_sha256, row_count)
        return self._save(export)

    def change_expiry(
        self,
        export_id: str,
        *,
        expires_at: datetime | None,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        """A completed export's file expires at another time (a past one makes it due
        for the expiry job); refused once expired or deleted."""
        moment = aware(expires_at) if expires_at is not None else None
        export = self._load_for(export_id, caller)
        export.change_expiry(actor, moment)
        return self._save(export)

    def fail(
        self,
        export_id: str,
        *,
        error_message: str,
        actor: str = SYSTEM_ACTOR,
        caller: Caller | None = None,
    ) -> ExportState:
        if not error_message.strip() or len(error_message) > 10_000:
            raise InvalidExport("error_message must be 1 to 10000 characters")
        export = self._load_for(export_id, caller)
        export.fail(actor, error_message)
        return self._save(export)

    def retry(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.retry(actor)
        return self._save(export)

    def record_download(
        self,
        export_id: str,
        *,
        actor: str,
        file_sha256: str | None = None,
        caller: Caller | None = None,
    ) -> ExportState:
        if file_sha256 is not None:
            check_sha256(file_sha256)
        export = self._load_for(export_id, caller)
        export.record_download(actor, self._clock(), file_sha256)
        return self._save(export)

    def expire(
        self, export_id: str, *, actor: str = SYSTEM_ACTOR, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.expire(actor)
        return self._save(export)

    def delete(
        self, export_id: str, *, actor: str, reason: str | None = None, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.delete(actor, reason)
        return self._save(export)

    def place_hold(
        self,
        export_id: str,
        *,
        matter: str,
        reason: str | None = None,
        actor: str,
        caller: Caller | None = None,
    ) -> tuple[str, ExportState]:
        """Open a legal hold on an export: until it is released the export cannot
        expire, be deleted or have its subject erased. Returns the new hold's id."""
        check_hold(matter, reason)
        hold_id = new_hold_id()
        export = self._load_for(export_id, caller)
        export.place_hold(actor, hold_id, matter, reason)
        return hold_id, self._save(export)

    def release_hold(
        self, export_id: str, hold_id: str, *, actor: str, caller: Caller | None = None
    ) -> ExportState:
        export = self._load_for(export_id, caller)
        export.release_hold(actor, hold_id)
        return self._save(export)

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
        """Record each row of another system's table as events (domain/imports.py), the
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
            stored = [self.mapper.to_stored_event(e) for e in events]
            if self._committer is None:
                ids = self.recorder.insert_events(stored) or []
            else:
                ids = self._committer.submit(stored)
        positions = [i for e, i in zip(events, ids, strict=True) if e.originator_id == export.id]
        return ExportState.of(export, positions[-1] if positions else None)

    def _stored(self, events: Sequence[Any]) -> list[StoredEvent]:
        mapper = self.mapper
        if isinstance(mapper, PrivacyMapper):
            return mapper.to_stored_events(events)
        return [mapper.to_stored_event(e) for e in events]

    def _insert(self, stored: list[StoredEvent]) -> Sequence[int]:
        return self.recorder.insert_events(stored) or []

    def _replay_claim(self, user_id: str, key: str, fingerprint: str) -> ExportState:
        try:
            with translated_errors(key):
                claim: IdempotencyClaim = self.repository.get(idempotency_claim_id(user_id, key))
        except AggregateNotFoundError:
            raise StoreUnavailable("idempotent request conflicted but left no claim") from None
        if claim.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key, claim.export_id)
        return self.get(claim.export_id)

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
