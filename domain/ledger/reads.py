"""The ledger's queries: an export now, at a moment or version, its history, positions.

:class:`LedgerReads` is the read half of the application service; the commands
(``domain/ledger/application.py``) build on it. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from domain.exceptions import (
    ConcurrentModification,
    ExportNotFound,
    InvalidExport,
    StoreUnavailable,
)
from domain.exports.ids import aggregate_id
from domain.exports.model import SYSTEM_ACTOR, ExportLog
from domain.exports.rules import aware
from domain.exports.values import Status
from domain.exports.views import ExportState, HistoryEntry
from domain.privacy import SubjectKeys, stored_subject

_EVENT_META = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "actor"}
)


@runtime_checkable
class EventPositions(Protocol):
    """What a recorder offers when it can tell each event's log position."""

    def select_event_positions(self, originator_id: UUID) -> dict[int, int]: ...


@runtime_checkable
class Caller(Protocol):
    """Who runs a command from outside (a user, or an admin who may act on any export)."""

    @property
    def user_id(self) -> str: ...

    @property
    def admin(self) -> bool: ...


TAIL_LIMIT = 5_000
"""The longest tail :meth:`LedgerReads.last_position_concerning` reads; past it, the
answer is the tail's end."""


class LedgerReads(Application[UUID]):
    """Queries over ExportLog aggregates, straight from their events."""

    subject_keys: SubjectKeys

    def get(self, export_id: str) -> ExportState:
        return ExportState.of(self._load(export_id))

    def history(self, export_id: str) -> list[HistoryEntry]:
        originator_id = aggregate_id(export_id)
        with translated_errors(export_id):
            events = list(self.events.get(originator_id))
            positions = self._positions(originator_id)
        if not events:
            raise ExportNotFound(export_id)
        return [_history_entry(e, positions.get(e.originator_version)) for e in events]

    def state_as_of(
        self, export_id: str, *, at: datetime | None = None, version: int | None = None
    ) -> ExportState:
        """The export as it stood at a moment (``at``) or after event ``version``."""
        if (at is None) == (version is None):
            raise InvalidExport("give exactly one of a timestamp or a version")
        if at is not None:
            version = self._version_at(export_id, aware(at))
        assert version is not None
        if version < 1:
            raise InvalidExport(f"version must be 1 or more, not {version}")
        export = self._load(export_id, version=version)
        if export.version < version:
            raise ExportNotFound(
                export_id, f"export {export_id!r} has only {export.version} events"
            )
        return ExportState.of(export)

    def last_position(self, export_id: str) -> int | None:
        """The log position of the export's latest event (None: no such export, or a
        store that cannot tell positions)."""
        with translated_errors(export_id):
            positions = self._positions(aggregate_id(export_id))
        return max(positions.values(), default=None)

    def head_position(self) -> int:
        with translated_errors(""):
            return self.recorder.max_notification_id() or 0

    def last_position_concerning(self, user_id: str, after: int, upto: int) -> int:
        """The position of the latest event in (``after``, ``upto``] that can change what
        ``user_id`` reads (0: none), for a read that need wait only for those.

        Every event of an export carries its subject's pseudonym in the clear, the
        export's first (Requested) event too, so an export of this user whose whole
        history is in the tail is still found. An event without a pseudonym (stored
        before them, or no export's, such as an erasure's) may concern anyone: it
        counts. A tail longer than :data:`TAIL_LIMIT` is not read: ``upto``.
        """
        if upto <= after:
            return 0
        if upto - after > TAIL_LIMIT:
            return upto
        subject = self.subject_keys.pseudonym(user_id)
        with translated_errors(""):
            tail = self.recorder.select_notifications(after + 1, upto - after, stop=upto)
        latest = 0
        for notification in tail:
            if stored_subject(notification.state) in (subject, None):
                latest = max(latest, notification.id)
        return latest

    # -- helpers --------------------------------------------------------------

    def _load(self, export_id: str, version: int | None = None) -> ExportLog:
        try:
            with translated_errors(export_id):
                export: ExportLog = self.repository.get(
                    aggregate_id(export_id), version=version, projector_func=_replay
                )
        except AggregateNotFoundError:
            raise ExportNotFound(export_id) from None
        return export

    def _load_for(self, export_id: str, caller: Caller | None) -> ExportLog:
        """The export a command acts on. With ``caller``, someone else's export (for a
        user who is not an admin) or a deleted one is ExportNotFound, exactly like a
        missing one, so ids of other users' exports cannot be probed; one load
        serves both the check and the command."""
        export = self._load(export_id)
        if caller is not None and (
            export.status == Status.DELETED
            or not (caller.admin or export.user_id == caller.user_id)
        ):
            raise ExportNotFound(export_id)
        return export

    def _find(self, export_id: str) -> ExportLog | None:
        try:
            return self._load(export_id)
        except ExportNotFound:
            return None

    def _positions(self, originator_id: UUID) -> dict[int, int]:
        if isinstance(self.recorder, EventPositions):
            return self.recorder.select_event_positions(originator_id)
        return {}

    def _version_at(self, export_id: str, at: datetime) -> int:
        with translated_errors(export_id):
            events = list(self.events.get(aggregate_id(export_id)))
        if not events:
            raise ExportNotFound(export_id)
        versions = [e.originator_version for e in events if _timestamp(e) <= at]
        if not versions:
            raise ExportNotFound(
                export_id,
                f"export {export_id!r} did not exist yet at {at.isoformat()} "
                f"(requested at {_timestamp(events[0]).isoformat()})",
            )
        return versions[-1]


def _replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's projector without its per-event ``isinstance`` check against a
    runtime-checkable protocol (a third of a short aggregate's load in Python)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@contextmanager
def translated_errors(export_id: str) -> Iterator[None]:
    """Turn the library's persistence errors into our own."""
    try:
        yield
    except IntegrityError:
        raise ConcurrentModification(export_id) from None
    except (OperationalError, PersistenceError) as error:
        raise StoreUnavailable(f"event store unavailable: {error}") from error


def _history_entry(event: DomainEventProtocol[UUID], position: int | None) -> HistoryEntry:
    data = {k: v for k, v in vars(event).items() if k not in _EVENT_META}
    return HistoryEntry(
        position=position,
        version=event.originator_version,
        type=type(event).__name__,
        timestamp=_timestamp(event),
        actor=str(getattr(event, "actor", SYSTEM_ACTOR)),
        data=data,
    )


def _timestamp(event: DomainEventProtocol[UUID]) -> datetime:
    """When the event happened (every aggregate event has a tz-aware timestamp)."""
    moment = vars(event)["timestamp"]
    assert isinstance(moment, datetime)
    return moment
