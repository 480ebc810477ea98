"""Data subjects: erasure by crypto-shredding, as a command and an event.

An erasure destroys the subject's data key and every export key of theirs
(domain/privacy) and records ``Erased`` on the subject's own aggregate (who, when,
why, which exports; no personal data: the subject is named by its pseudonym). It is
refused while any of the subject's exports is under a legal hold, and final: a second
one records nothing and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from domain import topics
from domain.exceptions import ExportOnHold, InvalidExport
from domain.exports.ids import aggregate_id
from domain.ledger.reads import LedgerReads, translated_errors
from domain.privacy import SubjectKeys, check_reason

_SUBJECT_NAMESPACE = UUID("3d0f6b8e-2a61-4c8e-b7f5-9e1c0a4d2b63")  # fixed: names every subject


def subject_aggregate_id(subject: str) -> UUID:
    return uuid5(_SUBJECT_NAMESPACE, subject)


class DataSubject(Aggregate):
    """A data subject, by pseudonym; it exists once erased (topics: domain/topics.py)."""

    TOPIC = topics.DATA_SUBJECT

    class Created(Aggregate.Created):
        TOPIC = topics.DATA_SUBJECT + ".Created"

    @staticmethod
    def create_id(subject: str, **_: Any) -> UUID:
        return subject_aggregate_id(subject)

    @event("Erased", topic=topics.ERASED)
    def __init__(self, subject: str, actor: str, reason: str | None, export_ids: list[str]) -> None:
        self.subject = subject
        self.erased_by = actor
        self.reason = reason
        self.export_ids = export_ids


class SubjectExports(Protocol):
    """Finds a subject's exports, and the open holds among them (the read tables)."""

    def projected_position(self) -> int:
        """The log position the read tables include (listings cover at least that)."""
        ...

    def export_ids_of(self, user_id: str) -> Sequence[str]: ...

    def exports_sealed_since(self, subject: str, after: int) -> Sequence[str]:
        """Once no process can seal under the subject's (destroyed) key any more: the
        exports first recorded after log position ``after`` under that key, from the
        events themselves (the read tables may not show them yet)."""
        ...

    def open_holds(self, export_ids: Sequence[str]) -> Sequence[tuple[str, str, str]]:
        """(export id, hold id, matter) of each open hold of these exports."""
        ...


@dataclass(frozen=True, slots=True)
class Erasure:
    subject: str
    """The subject's pseudonym."""
    erased_now: bool
    """False: the subject had been erased before; nothing was recorded."""
    export_ids: list[str]
    erased_by: str
    reason: str | None
    position: int | None = None


class SubjectCommands(LedgerReads):
    """Erasure of data subjects (mixed into the application service)."""

    subject_keys: SubjectKeys

    def erase_subject(
        self, user_id: str, *, actor: str, reason: str | None, exports: SubjectExports
    ) -> Erasure:
        if not user_id or len(user_id) > 200:
            raise InvalidExport("user_id must be 1 to 200 characters")
        check_reason(reason)
        subject = self.subject_keys.pseudonym(user_id)
        done = self._erasure(subject)
        if done is not None:
            return Erasure(subject, False, done.export_ids, done.erased_by, done.reason)
        listed_upto = exports.projected_position()
        found = list(exports.export_ids_of(user_id))
        for export_id, hold_id, matter in exports.open_holds(found):
            raise ExportOnHold(export_id, hold_id, matter, "erase its subject")
        self.subject_keys.erase(subject, [aggregate_id(e) for e in found])
        # Exports recorded while the key went (a writer may still hold it for a
        # moment, and a fold that read it can still write clear rows): found from
        # their events, so that Erased names them and its fold erases their rows.
        known = set(found)
        late = [e for e in exports.exports_sealed_since(subject, listed_upto) if e not in known]
        if late:
            found.extend(late)
            self.subject_keys.erase(subject, [aggregate_id(e) for e in late])
        erased = DataSubject(subject=subject, actor=actor, reason=reason, export_ids=found)
        with translated_errors(subject):
            recordings = self.save(erased)
        position = recordings[-1].notification.id if recordings else None
        return Erasure(subject, True, found, actor, reason, position)

    def erasure_of(self, user_id: str) -> Erasure | None:
        subject = self.subject_keys.pseudonym(user_id)
        done = self._erasure(subject)
        if done is None:
            return None
        return Erasure(subject, False, done.export_ids, done.erased_by, done.reason)

    def _erasure(self, subject: str) -> DataSubject | None:
        try:
            with translated_errors(subject):
                found: DataSubject = self.repository.get(subject_aggregate_id(subject))
        except AggregateNotFoundError:
            return None
        return found
