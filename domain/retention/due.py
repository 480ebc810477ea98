"""Which retention policy applies to an export, and when it falls due.

Pure: it reads an export's own events (their types and timestamps) and its state,
never the read model. A policy matches an export when its filters (format, status)
match and the moment it counts from has happened; it falls due ``after`` that moment.
When several match, the longest wins: the one falling due last, so that no policy
sheds an export another one still keeps (ties: the longer ``after``, then the id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.retention.policies import Basis, Policy

_COMPLETED = ("completed", "expired")
OLD_FORMAT = "shed from views, events openable until the subject is erased"
"""How the reports name exports shed that were sealed before export keys (README:
Retention): their events still open under their subject's key."""


@dataclass(frozen=True, slots=True)
class ExportFacts:
    """What policies look at in an export (from :func:`facts_of`)."""

    format: str
    status: str
    expires_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    last_event_at: datetime

    def moment(self, basis: Basis) -> datetime | None:
        if basis == Basis.EXPIRY:
            return self.expires_at
        if basis == Basis.COMPLETION:
            return self.completed_at
        if basis == Basis.FAILURE:
            return self.failed_at
        return self.last_event_at


@dataclass(frozen=True, slots=True)
class Checked:
    """A run's decision on an export it did not shed: the version it read, and when
    the export falls due (None: no policy applies to it)."""

    originator_id: UUID
    version: int
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    due_at: datetime

    def is_due(self, now: datetime) -> bool:
        return self.due_at <= now


def facts_of(export: Any, events: Iterable[Any]) -> ExportFacts:
    """The facts of ``export`` (an ExportLog) from its own ``events`` (in order)."""
    completed_at = failed_at = None
    last: datetime | None = None
    for stored in events:
        kind = type(stored).__name__
        last = stored.timestamp
        if kind == "Completed":
            completed_at = stored.timestamp
        elif kind == "Failed":
            failed_at = stored.timestamp
        elif kind == "Imported":
            if stored.status in _COMPLETED:
                completed_at = stored.timestamp
            elif stored.status == "failed":
                failed_at = stored.timestamp
    return ExportFacts(
        format=export.format,
        status=str(export.status),
        expires_at=export.expires_at,
        completed_at=completed_at,
        failed_at=failed_at,
        last_event_at=last or export.modified_on,
    )


def matches(policy: Policy, facts: ExportFacts) -> bool:
    return (policy.format is None or policy.format == facts.format) and (
        policy.status is None or policy.status == facts.status
    )


def decide(policies: Sequence[Policy], facts: ExportFacts) -> Decision | None:
    """The policy that applies to the export and when it falls due; None when none does."""
    best: Decision | None = None
    for policy in policies:
        moment = facts.moment(policy.basis)
        if moment is None or not matches(policy, facts):
            continue
        candidate = Decision(policy, moment + policy.after)
        if best is None or _longer(candidate, best):
            best = candidate
    return best


def _longer(a: Decision, b: Decision) -> bool:
    return (a.due_at, a.policy.after, a.policy.policy_id) > (
        b.due_at,
        b.policy.after,
        b.policy.policy_id,
    )
