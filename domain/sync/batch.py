"""Many rows of another system's table at once: one read of the exports they name,
one plan, one append (the rules for one row are in domain/sync/rows.py).

The ledger reads the rows' exports through :class:`StoredExports`, a read-only
view of the event store that answers for a whole batch in one query, and appends
through the recorder's bulk insert when it has one (:class:`BulkRecorder`): the
same table, lock and transaction as every other append, only sent faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import Mapper, StoredEvent

from domain.exceptions import ExportShed, IllegalTransition, InvalidExport
from domain.exports.ids import aggregate_id
from domain.exports.model import ExportLog
from domain.privacy import PrivacyMapper
from domain.sync.rows import Outcome, SourceRow, plan_sync

StoredRow = tuple[UUID, int, str, bytes]
"""A stored event as the events table holds it: originator id, version, topic, state."""


@dataclass(frozen=True, slots=True)
class Synced:
    """What became of one source row: its outcome, or why it was refused."""

    export_id: str
    outcome: Outcome | None
    refused: str | None = None


class StoredExports(Protocol):
    """Read-only: the stored events of many exports in one call."""

    def stored_events(self, originator_ids: Sequence[UUID]) -> Iterable[StoredRow]:
        """The events of those of ``originator_ids`` that exist, each export's in
        version order (ids of no export are left out)."""
        ...


@runtime_checkable
class BulkRecorder(Protocol):
    """A recorder that can append many events in one transaction quickly."""

    def insert_events_in_bulk(
        self, stored_events: Sequence[StoredEvent], also: Callable[[Any], object] | None = None
    ) -> None: ...


@dataclass
class SyncPlan:
    """Each row's result, and the exports with the events to append for them."""

    results: list[Synced] = field(default_factory=list)
    exports: dict[str, ExportLog] = field(default_factory=dict)


def plan_rows(rows: Sequence[SourceRow], found: Mapping[str, ExportLog], actor: str) -> SyncPlan:
    """Plan every row against its export as ``found`` (stored) or as an earlier row of
    the same call left it; a refused row records nothing and stops no other row."""
    plan = SyncPlan()
    for row in rows:
        export = plan.exports.get(row.export_id, found.get(row.export_id))
        if export is not None and export.shed_by() is not None:
            # Its fields are shed: the source's copies no longer compare. Only a move of
            # its status is news, and a shed export records none.
            if row.status == export.status:
                plan.results.append(Synced(row.export_id, "unchanged"))
            else:
                shed = ExportShed(row.export_id, f"become {row.status}")
                plan.results.append(Synced(row.export_id, None, str(shed)))
            continue
        try:
            outcome, export = plan_sync(export, row, actor)
        except (InvalidExport, IllegalTransition, ExportShed) as error:
            plan.results.append(Synced(row.export_id, None, str(error)))
            continue
        plan.results.append(Synced(row.export_id, outcome))
        if outcome != "unchanged":
            plan.exports[row.export_id] = export
    return plan


def read_exports(
    known: StoredExports, mapper: Mapper[UUID], rows: Sequence[SourceRow]
) -> dict[str, ExportLog]:
    """The stored exports the rows name, by export id, from one call to ``known``;
    each rebuilt from its events as the library's repository does."""
    export_ids = [row.export_id for row in rows if isinstance(row.export_id, str)]
    user_ids = [row.user_id for row in rows if isinstance(row.user_id, str)]
    return read_exports_by_id(known, mapper, export_ids, user_ids)


def read_exports_by_id(
    known: StoredExports,
    mapper: Mapper[UUID],
    export_ids: Iterable[str],
    user_ids: Iterable[str] = (),
) -> dict[str, ExportLog]:
    """The stored exports of ``export_ids`` (those that exist), by export id; the
    keys of ``user_ids`` and of the exports fetched at once when the mapper seals
    personal fields."""
    ids = list({aggregate_id(export_id) for export_id in export_ids})
    by_export: dict[UUID, list[StoredEvent]] = {}
    for originator_id, version, topic, state in known.stored_events(ids):
        stored = StoredEvent(originator_id, version, topic, state)
        by_export.setdefault(originator_id, []).append(stored)
    if by_export and isinstance(mapper, PrivacyMapper):
        mapper.prepare_reading(user_ids, by_export)
    found: dict[str, ExportLog] = {}
    for stored_events in by_export.values():
        export = project_aggregate(None, map(mapper.to_domain_event, stored_events))
        if isinstance(export, ExportLog):
            found[export.export_id] = export
    return found
