"""Retention policies: how long an export's personal fields are kept, stored as events.

A policy says: ``after`` a duration (``90d``), counted ``from`` one moment of the
export's life (:class:`Basis`), shed the export's own personal fields; optionally only
for one format and one status. Every policy set or removed is an event of one
aggregate, :class:`RetentionPolicies` (who set what, when). There are none by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain import topics
from domain.exceptions import InvalidExport, RetentionPolicyNotFound
from domain.exports.values import ExportFormat, Status

POLICIES_ID = uuid5(UUID("2d6f1e8a-93b4-4c0e-b1f7-6a5d0c3e9b42"), "retention policies")
"""The one aggregate holding every policy."""

_DURATION = re.compile(r"^([1-9][0-9]{0,3})([hdw])$")
DURATION_PATTERN = _DURATION.pattern.replace("(", "").replace(")", "")
"""The durations a policy takes (1 to 9999 hours, days or weeks), for the HTTP schema."""
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_AFTER = timedelta(weeks=9999)


class Basis(StrEnum):
    """The moment a policy counts from."""

    EXPIRY = "expiry"  # the file's expires_at
    COMPLETION = "completion"  # the last Completed (or an import as completed/expired)
    FAILURE = "failure"  # the last Failed (or an import as failed)
    LAST_EVENT = "last-event"  # the export's last event


@dataclass(frozen=True, slots=True)
class Policy:
    policy_id: str
    after: timedelta
    basis: Basis
    format: str | None
    status: str | None
    set_by: str
    set_at: datetime

    def describe(self) -> str:
        """The policy in the words of the command that sets it."""
        words = [f"after {duration_text(self.after)} from {self.basis}"]
        if self.format:
            words.append(f"format {self.format}")
        if self.status:
            words.append(f"status {self.status}")
        return ", ".join(words)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12w`` or ``36h``: 1 to 9999 hours, days or weeks."""
    found = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise InvalidExport(
            f"after must be a duration like 90d, 12w or 36h (1 to 9999 of a unit), not {text!r}"
        )
    return int(found.group(1)) * _UNITS[found.group(2)]


def duration_text(after: timedelta) -> str:
    seconds = int(after.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 3600}h"


def check_policy(basis: str, fmt: str | None, status: str | None) -> Basis:
    """The basis, once the filters are checked: a known format and status."""
    try:
        valid = Basis(basis)
    except ValueError:
        allowed = ", ".join(b.value for b in Basis)
        raise InvalidExport(f"from must be one of {allowed}, not {basis!r}") from None
    if fmt is not None and fmt not in {f.value for f in ExportFormat}:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise InvalidExport(f"format must be one of {allowed}, not {fmt!r}")
    if status is not None and status not in {s.value for s in Status}:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidExport(f"status must be one of {allowed}, not {status!r}")
    return valid


class RetentionPolicies(Aggregate):
    """Every retention policy in force, by id; each change an event."""

    TOPIC = topics.RETENTION_POLICIES

    class Created(Aggregate.Created):
        TOPIC = topics.RETENTION_POLICIES + ".Created"

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return POLICIES_ID

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}

    def set_policy(
        self,
        actor: str,
        policy_id: str,
        after: timedelta,
        basis: str,
        fmt: str | None = None,
        status: str | None = None,
        *,
        at: datetime,
    ) -> None:
        """Set (or replace) policy ``policy_id``; ``at``: when, as the command's clock says."""
        valid = check_policy(basis, fmt, status)
        if not timedelta(0) < after <= MAX_AFTER:
            raise InvalidExport("after must be more than 0 and at most 9999 weeks")
        seconds = int(after.total_seconds())
        self._policy_set(
            actor=actor, policy_id=policy_id, after_seconds=seconds, basis=str(valid),
            format=fmt, status=status, at=at,
        )  # fmt: skip

    def remove_policy(self, actor: str, policy_id: str) -> None:
        if policy_id not in self.policies:
            raise RetentionPolicyNotFound(policy_id)
        self._policy_removed(actor=actor, policy_id=policy_id)

    def in_force(self) -> list[Policy]:
        """The policies in force, oldest first."""
        return [
            Policy(
                policy_id=policy_id,
                after=timedelta(seconds=p["after_seconds"]),
                basis=Basis(p["basis"]),
                format=p["format"],
                status=p["status"],
                set_by=p["set_by"],
                set_at=p["set_at"],
            )
            for policy_id, p in self.policies.items()
        ]

    @event("PolicySet", topic=topics.RETENTION_POLICIES + ".PolicySet")
    def _policy_set(
        self,
        actor: str,
        policy_id: str,
        after_seconds: int,
        basis: str,
        format: str | None,
        status: str | None,
        at: datetime,
    ) -> None:
        self.policies = {
            **self.policies,
            policy_id: {
                "after_seconds": after_seconds, "basis": basis, "format": format,
                "status": status, "set_by": actor, "set_at": at,
            },
        }  # fmt: skip

    @event("PolicyRemoved", topic=topics.RETENTION_POLICIES + ".PolicyRemoved")
    def _policy_removed(self, actor: str, policy_id: str) -> None:
        self.policies = {k: v for k, v in self.policies.items() if k != policy_id}
