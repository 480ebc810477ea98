"""Committed changes of the seed's table (decoded from pgoutput) as the ledger's events.

An inserted or updated row is planned by :func:`domain.sync.rows.plan_sync`, the one
way a source row becomes events: a new export is one ``Imported`` event, a known
one records each move to the row's status. A deleted row is the export's
``Deleted``. Each change is planned on its export as the earlier changes left it,
so a row moved through three states records all three moves.

What pgoutput sends shapes the rest. With the default replica identity a delete
carries only the row's ``id``, so the exports are found through a map from the
source's ``id`` to the export (:attr:`ChangePlan.mapped`). An unchanged TOASTed
value arrives as :data:`~domain.sync.pgoutput.UNCHANGED` and is taken from the export as
the ledger holds it.

A change that is not a legal move of the ledger's export (a status no move reaches,
a request or an ``export_id`` that changed, a delete under a legal hold) is refused
with its reason and records nothing; its export is then *diverged*: the ledger
stands as the last change it accepted. Later changes of a diverged export are still
planned on that state; the first one accepted makes the ledger stand as the source
row says again (an update carries the whole row) and ends the divergence.

Every event a change records carries the source's position and commit time as data
(:data:`SOURCE_ATTRIBUTE`), beside the event's own timestamp (when the ledger
recorded it). Events replay without it: it is no argument of any ``@event`` method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from domain.exceptions import (
    ExportLedgerError,
    ExportOnHold,
    ExportShed,
    IllegalTransition,
    InvalidExport,
)
from domain.exports.model import ExportLog
from domain.exports.values import Status
from domain.sync.pgoutput import UNCHANGED, Relation, Value, format_lsn
from domain.sync.rows import SEED_COLUMNS, SourceRow, plan_sync

SYNC_ACTOR: Final = "sync"
SOURCE_ATTRIBUTE: Final = "source_commit"
DELETE_REASON: Final = "deleted in the source table"

_TEXT = frozenset({25, 1043, 1042, 19, 2950})  # text, varchar, bpchar, name, uuid
_INTEGER = frozenset({20, 21, 23})
_TIME = frozenset({1184})  # timestamptz
_JSON = frozenset({114, 3802})
_KINDS: dict[str, frozenset[int]] = {
    "id": _TEXT | _INTEGER,
    "conversation_count": _INTEGER,
    "file_size": _INTEGER,
    "config": _JSON,
    "timestamp": _TIME,
    "expires_at": _TIME,
    "created_at": _TIME,
    "updated_at": _TIME,
}
_KEPT_BY_LEDGER = ("config", "file_url", "error_message", "user_id", "format")


class SourceSchemaChanged(ExportLedgerError):
    """The source table's columns are not the ones the follow can read."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a change is in the source's commit order: its transaction's commit end
    LSN, and its ordinal (1, 2, ...) within that transaction."""

    end_lsn: int
    ordinal: int

    def __str__(self) -> str:
        return f"{format_lsn(self.end_lsn)}#{self.ordinal}"


@dataclass(frozen=True, slots=True)
class Change:
    kind: Literal["insert", "update", "delete"]
    source_id: str
    values: Mapping[str, Value]
    """The new row by column (insert, update); the old key (delete)."""
    position: Position
    commit_time: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    change: Change
    export_id: str | None
    reason: str


@dataclass
class ChangePlan:
    """The exports with their pending events, the map's new entries and removals, and
    what each refused change was and which exports it left diverged or mended."""

    exports: dict[str, ExportLog] = field(default_factory=dict)
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: set[str] = field(default_factory=set)
    refused: list[Refusal] = field(default_factory=list)
    diverged: dict[str, Refusal] = field(default_factory=dict)
    mended: set[str] = field(default_factory=set)
    applied: int = 0


def column_indexes(relation: Relation) -> dict[str, int]:
    """Where each seed column is in the relation's rows; SourceSchemaChanged when one
    is missing or of a type the follow cannot read."""
    where = {column.name: k for k, column in enumerate(relation.columns)}
    missing = [name for name in SEED_COLUMNS if name not in where]
    table = f"{relation.namespace}.{relation.name}"
    if missing:
        raise SourceSchemaChanged(
            f"the source table {table} no longer has the seed's columns {', '.join(missing)}: "
            "the follow stops (import --drop-slot, fix the table, then follow again)"
        )
    for name in SEED_COLUMNS:
        type_oid = relation.columns[where[name]].type_oid
        if type_oid not in _KINDS.get(name, _TEXT):
            raise SourceSchemaChanged(
                f"the source table {table}'s column {name} has a type (oid {type_oid}) the "
                "follow cannot read: the follow stops"
            )
    return {name: where[name] for name in SEED_COLUMNS}


def plan_changes(
    changes: Sequence[Change],
    found: Mapping[str, ExportLog],
    export_of: Mapping[str, str],
    actor: str = SYNC_ACTOR,
    unrecordable: Mapping[str, str] | None = None,
) -> ChangePlan:
    """Plan each change in order on its export as ``found`` (stored) or an earlier
    change left it; ``export_of`` maps source ids to export ids as stored. The changes
    of the exports in ``unrecordable`` (an erased data subject's) are refused with the
    reason given, and leave no divergence: there is nothing left to compare."""
    plan = ChangePlan()

    def current(export_id: str) -> ExportLog | None:
        return plan.exports.get(export_id, found.get(export_id))

    for change in changes:
        mapped = None if change.source_id in plan.unmapped else export_of.get(change.source_id)
        mapped = plan.mapped.get(change.source_id, mapped)
        named = mapped or _text(change.values.get("export_id"))
        if unrecordable and named is not None and named in unrecordable:
            plan.refused.append(Refusal(change, named, unrecordable[named]))
            continue
        try:
            export = _plan_one(change, mapped, current, actor)
        except (
            InvalidExport,
            IllegalTransition,
            ExportOnHold,
            ExportShed,
            SourceSchemaChanged,
        ) as error:
            export_id = mapped or _text(change.values.get("export_id"))
            refusal = Refusal(change, export_id, str(error))
            plan.refused.append(refusal)
            if export_id is not None and current(export_id) is not None:
                plan.diverged[export_id] = refusal
                plan.mended.discard(export_id)
            continue
        plan.applied += 1
        if export is None:
            continue
        plan.exports[export.export_id] = export
        plan.diverged.pop(export.export_id, None)
        plan.mended.add(export.export_id)
        if change.kind == "delete":
            plan.unmapped.add(change.source_id)
            plan.mapped.pop(change.source_id, None)
        else:
            plan.mapped[change.source_id] = export.export_id
            plan.unmapped.discard(change.source_id)
    return plan


def _plan_one(
    change: Change,
    mapped: str | None,
    current: Callable[[str], ExportLog | None],
    actor: str,
) -> ExportLog | None:
    """The export with this change's events pending (stamped with its position);
    None when the change records nothing (a delete of a row the ledger never had)."""
    if change.kind == "delete":
        export = current(mapped) if mapped is not None else None
        if export is None or export.status == Status.DELETED:
            return None
        before = len(export.pending_events)
        export.delete(actor, DELETE_REASON)
        _stamp(export, before, change)
        return export
    export_id = _text(change.values.get("export_id"))
    if mapped is not None and export_id != mapped:
        raise InvalidExport(
            f"export_id of source row {change.source_id} changed from {mapped} to {export_id}; "
            "an export's id is never rewritten"
        )
    export = current(export_id) if export_id is not None else None
    row = source_row(change, export)
    before = len(export.pending_events) if export is not None else 0
    _, export = plan_sync(export, row, actor)
    _stamp(export, before, change)
    return export


def source_row(change: Change, export: ExportLog | None) -> SourceRow:
    """The change's new row as a source row: each value parsed from its text, each
    unchanged TOASTed one taken from the export as the ledger holds it."""
    values: dict[str, Any] = {}
    for name in SEED_COLUMNS:
        value = change.values.get(name)
        if value is UNCHANGED:
            values[name] = _kept(name, export)
        else:
            values[name] = _parse(name, value)
    return SourceRow(**values)


def _kept(name: str, export: ExportLog | None) -> Any:
    if export is None or name not in _KEPT_BY_LEDGER:
        raise InvalidExport(
            f"the source sent {name} as unchanged, and the ledger holds no value of it"
        )
    return getattr(export, name)


def _parse(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        if name in ("conversation_count", "file_size"):
            return int(value)
        if name == "config":
            return json.loads(value)
        if name in ("timestamp", "expires_at", "created_at", "updated_at"):
            return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidExport(f"{name} {value!r} cannot be read") from None
    return value


def _text(value: Value | None) -> str | None:
    return value if isinstance(value, str) else None


def _stamp(export: ExportLog, before: int, change: Change) -> None:
    stamp = {
        "end_lsn": format_lsn(change.position.end_lsn),
        "ordinal": change.position.ordinal,
        "committed_at": change.commit_time.isoformat(),
    }
    for pending in export.pending_events[before:]:
        vars(pending)[SOURCE_ATTRIBUTE] = stamp
