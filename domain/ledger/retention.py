"""Retention: the policies, and the run that sheds every export past its policy.

A run walks the exports not yet shed (a :class:`RetentionCandidates` lists them, from
the stored events), loads each from its own events, asks domain/retention/due.py which
policy applies and when it falls due, and records ``RetentionApplied`` for each one due.
Storing that event destroys the export's key in the same transaction (a trigger:
sql/migrations/0015_retention.sql); this process forgets the key at once, and a run
that shed any returns once the key caches of every process have let them go. A held
export is skipped and listed. An export with no key of its own (sealed before export
keys existed) is shed from the read tables only: its events stay openable under its
subject's key until the subject is erased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent

from domain.exceptions import ConcurrentModification, ExportNotFound
from domain.exports.ids import aggregate_id, new_hold_id
from domain.exports.model import SYSTEM_ACTOR, ExportLog
from domain.exports.rules import aware
from domain.ledger.reads import _replay, translated_errors
from domain.privacy import erased_subject
from domain.retention.due import Checked, Decision, decide, facts_of
from domain.retention.policies import POLICIES_ID, Policy, RetentionPolicies, parse_duration
from domain.sync.batch import StoredRow


class RetentionCandidates(Protocol):
    """Exports not yet shed, by aggregate id, after ``after`` in id order; for each,
    whether it has a key of its own (export_keys). ``stored_events``: a page's events,
    in one call (domain/sync/batch.py's StoredExports).

    ``remember`` keeps a run's decisions on the exports it did not shed (``Checked``);
    ``candidates`` then leaves out each one whose decision still stands at ``now``:
    no event recorded since, the same policies' version, not yet due."""

    def candidates(
        self, after: UUID | None, limit: int, *, policies_version: int, now: datetime
    ) -> Sequence[tuple[UUID, bool]]: ...

    def stored_events(self, originator_ids: Sequence[UUID]) -> Iterable[StoredRow]: ...

    def remember(self, checked: Sequence[Checked], policies_version: int) -> None: ...


@dataclass(frozen=True, slots=True)
class HeldExport:
    export_id: str
    hold_id: str
    matter: str


@dataclass
class RetentionRun:
    """What one run did (or, dry, would do)."""

    applied: list[str] = field(default_factory=list)
    held: list[HeldExport] = field(default_factory=list)
    old_format: int = 0
    """Of ``applied``, exports sealed before export keys: shed from the read tables,
    their events openable until their subject is erased."""
    seen: int = 0
    """Exports read (the others were decided on before, and nothing changed since)."""
    checked: list[Checked] = field(default_factory=list)


class RetentionCommands:
    """The retention commands of ExportLedger (mixed into domain/ledger/application.py)."""

    repository: Any
    events: Any
    mapper: Any
    subject_keys: Any
    _clock: Callable[[], datetime]

    _save: Callable[..., Any]

    # -- policies --------------------------------------------------------------

    def retention_policies(self) -> list[Policy]:
        return self._policies().in_force()

    def set_retention(
        self,
        *,
        after: str,
        basis: str,
        format: str | None = None,
        status: str | None = None,
        actor: str,
        policy_id: str | None = None,
    ) -> Policy:
        """Set a policy (a new one unless ``policy_id`` names one to replace)."""
        duration = parse_duration(after)
        new_id = policy_id or "ret_" + new_hold_id().removeprefix("hold_")
        policies = self._policies()
        policies.set_policy(actor, new_id, duration, basis, format, status, at=self._clock())
        self._save_policies(policies)
        return next(p for p in policies.in_force() if p.policy_id == new_id)

    def remove_retention(self, policy_id: str, *, actor: str) -> None:
        policies = self._policies()
        policies.remove_policy(actor, policy_id)
        self._save_policies(policies)

    def retention_of(self, export_id: str) -> Decision | None:
        """The policy that applies to an export and when it falls due (None: none)."""
        export, events = self._export_and_events(aggregate_id(export_id), export_id)
        return decide(self.retention_policies(), facts_of(export, events))

    def shed_by(self, export_id: str) -> str | None:
        """The retention policy that shed an export, if one did."""
        export, _ = self._export_and_events(aggregate_id(export_id), export_id)
        return export.shed_by()

    # -- the run ---------------------------------------------------------------

    def retain(
        self,
        finder: RetentionCandidates,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        batch_size: int = 200,
        on_seen: Callable[[int], None] = lambda _: None,
    ) -> RetentionRun:
        """Shed every export past the policy that applies to it (none without a policy)."""
        moment = aware(now) if now is not None else self._clock()
        found_policies = self._policies()
        policies, version = found_policies.in_force(), found_policies.version
        run = RetentionRun()
        if not policies:
            return run
        after: UUID | None = None
        while candidates := finder.candidates(
            after, batch_size, policies_version=version, now=moment
        ):
            loaded = self._page_of(finder, [c[0] for c in candidates])
            for originator_id, own_key in candidates:
                if (found := loaded.get(originator_id)) is not None:
                    self._retain_one(*found, own_key, policies, moment, dry_run, run)
            if run.checked and not dry_run:
                finder.remember(run.checked, version)
            run.checked.clear()
            run.seen += len(candidates)
            on_seen(len(candidates))
            after = candidates[-1][0]
        if run.applied and not dry_run:
            self.subject_keys.settle()  # no process holds a shed key when this returns
        return run

    def _retain_one(
        self,
        export: ExportLog,
        events: list[Any],
        own_key: bool,
        policies: list[Policy],
        now: datetime,
        dry_run: bool,
        run: RetentionRun,
    ) -> None:
        if export.shed_by() is not None or erased_subject(export.user_id) is not None:
            run.checked.append(Checked(export.id, export.version, None))
            return  # shed before, or erased (nothing of it is left to shed)
        decision = decide(policies, facts_of(export, events))
        if decision is None or not decision.is_due(now):
            due = decision.due_at if decision is not None else None
            run.checked.append(Checked(export.id, export.version, due))
            return
        for hold_id, hold in export.open_holds().items():
            run.held.append(HeldExport(export.export_id, hold_id, hold["matter"]))
            return
        if not dry_run:
            export.apply_retention(SYSTEM_ACTOR, decision.policy.policy_id, decision.due_at)
            try:
                self._save(export)
            except ConcurrentModification:
                return  # changed meanwhile: the next run looks again
            self.subject_keys.shed(export.id)  # destroyed as it was stored: forget it here
        run.applied.append(export.export_id)
        run.old_format += 0 if own_key else 1

    def _page_of(
        self, finder: RetentionCandidates, ids: list[UUID]
    ) -> dict[UUID, tuple[ExportLog, list[Any]]]:
        """A page of exports and their events, read in one call."""
        stored: dict[UUID, list[StoredEvent]] = {}
        with translated_errors("retention"):
            for originator_id, version, topic, state in finder.stored_events(ids):
                stored.setdefault(originator_id, []).append(
                    StoredEvent(originator_id, version, topic, state)
                )
        page: dict[UUID, tuple[ExportLog, list[Any]]] = {}
        for originator_id, rows in stored.items():
            events = [self.mapper.to_domain_event(row) for row in rows]
            export = _replay(None, events)
            if isinstance(export, ExportLog):
                page[originator_id] = (export, events)
        return page

    def _export_and_events(
        self, originator_id: UUID, export_id: str | None = None
    ) -> tuple[ExportLog, list[Any]]:
        name = export_id or str(originator_id)
        with translated_errors(name):
            events = list(self.events.get(originator_id))
        if not events:
            raise ExportNotFound(name)
        export = _replay(None, events)
        assert isinstance(export, ExportLog)
        return export, events

    def _policies(self) -> RetentionPolicies:
        try:
            with translated_errors("retention policies"):
                found: RetentionPolicies = self.repository.get(POLICIES_ID)
        except AggregateNotFoundError:
            return RetentionPolicies()
        return found

    def _save_policies(self, policies: RetentionPolicies) -> None:
        events = policies.collect_events()
        with translated_errors("retention policies"):
            self.events.put(events)
