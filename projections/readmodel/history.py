"""The read model's past: versions of export_logs rows, and snapshots as of a moment.

Both come from :func:`projections.readmodel.fold.fold_export`, the projection's own
fold, over the stored events grouped by export:

* :func:`fold_versions_by_export` makes every version an export's row has had
  (export_log_versions, bulk-loaded by the rebuild);
* :func:`snapshot` writes the whole export_logs as it stood at a moment into a
  table of its own, for offline audit (``export-ledger rebuild --as-of T
  --into TABLE``).

"As it stood at T" means, for each export, the row after its last event
timestamped at or before T: the version ``ExportLedger.state_as_of`` replays,
and the version of export_log_versions with valid_from_time <= T <
valid_to_time (the same, as long as an export's events are timestamped in
the order they happened, which one clock guarantees).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from domain.exceptions import SnapshotTableRefused
from projections.db.database import Database
from projections.readmodel.changes import Change
from projections.readmodel.fold import RETENTION_APPLIED, Row, fold_export, shed_row
from projections.readmodel.store import copy_rows, head_position, stream_events_by_aggregate
from sql import statement

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_RESERVED = ("export_log", "exportledger_", "ledger_", "read_model_", "pg_")


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    table: str
    at: datetime
    rows: int
    events: int
    position: int  # the head of the log the snapshot read
    seconds: float


def changes_by_export(changes: Iterable[Change]) -> Iterator[list[Change]]:
    """Runs of one export's changes, from changes grouped by export."""
    current = -1
    group: list[Change] = []
    for change in changes:
        if change.aggregate_id.int != current:  # ints compare faster than UUIDs
            if group:
                yield group
            current, group = change.aggregate_id.int, []
        group.append(change)
    if group:
        yield group


def fold_versions_by_export(changes: Iterable[Change]) -> Iterator[Row]:
    """Every version of every export, from changes grouped by export."""
    for group in changes_by_export(changes):
        yield from fold_export(None, group)[1]


def rows_as_of(changes: Iterable[Change], at: datetime) -> Iterator[Row]:
    """Each export's row as it stood at ``at`` (none if it did not exist yet or
    was deleted by then), from changes grouped by export; shed if a retention shed
    the export since (its fields may still open under its subject's key)."""
    for group in changes_by_export(changes):
        upto = _last_at_or_before(group, at)
        if upto:
            row, _ = fold_export(None, group[:upto])
            if row is not None:
                shed = any(c.type == RETENTION_APPLIED for c in group[upto:])
                yield shed_row(row) if shed else row


def _last_at_or_before(group: list[Change], at: datetime) -> int:
    """How many of the changes to fold: up to the last one timestamped <= ``at``."""
    for index in range(len(group) - 1, -1, -1):
        if datetime.fromisoformat(group[index].timestamp) <= at:
            return index + 1
    return 0


def check_snapshot_table(name: str) -> None:
    """Refuse a table a snapshot may not be written to: one whose name is not a
    plain lower-case SQL identifier of at most 40 characters (its index names
    add a suffix), or is one of the ledger's own tables or prefixes."""
    if not _IDENTIFIER.match(name):
        raise SnapshotTableRefused(
            f"{name!r} is not a table name this command takes: use lower-case letters, "
            "digits and _, starting with a letter or _, at most 40 characters"
        )
    if name.startswith(_RESERVED):
        raise SnapshotTableRefused(
            f"{name!r} is, or could be, one of the ledger's own tables "
            f"(names starting with {', '.join(_RESERVED)}); choose another name"
        )


def snapshot(
    db: Database,
    table: str,
    at: datetime,
    *,
    replace: bool = False,
    on_total: Callable[[int], None] = lambda _: None,
    on_events: Callable[[int], None] = lambda _: None,
) -> SnapshotReport:
    """Write export_logs as it stood at ``at`` into ``table`` (same columns,
    indexes and row-level security), folded from every event up to the head of
    one consistent snapshot. The table appears, or replaces the old one, at
    commit: an interrupted run leaves nothing behind. The table is tracked, so that a
    retention sheds its rows too (projections/readmodel/shedding.py)."""
    check_snapshot_table(table)
    if at.tzinfo is None:
        raise SnapshotTableRefused("the moment needs a time zone")
    started = time.perf_counter()
    with db.owner() as reader, db.owner() as writer:
        _refuse_existing(writer, table, replace)
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        reader.read_only = True
        events = 0

        def counted(n: int) -> None:
            nonlocal events
            events += n
            on_events(n)

        with reader.transaction(), writer.transaction():
            head = head_position(reader)
            on_total(head)
            _refuse_existing(writer, table, replace)
            writer.execute(statement("rebuild", "drop_table", table=table))
            writer.execute(statement("rebuild", "create_read_table"), {"table": table})
            writer.execute(statement("retention", "track_snapshot"), {"name": table, "at": at})
            changes = stream_events_by_aggregate(reader, head, counted)
            try:
                rows = copy_rows(writer, table, rows_as_of(changes, at))
            finally:
                changes.close()  # type: ignore[attr-defined]  # its cursor, in the transaction
            writer.execute(statement("rebuild", "index_read_table"), {"table": table})
    return SnapshotReport(table, at, rows, events, head, time.perf_counter() - started)


def _refuse_existing(conn: psycopg.Connection[Any], table: str, replace: bool) -> None:
    row = conn.execute(statement("rebuild", "table_exists"), {"table": table}).fetchone()
    if row and row[0] and not replace:
        raise SnapshotTableRefused(
            f"table {table!r} exists; pass --replace to overwrite it, or choose another name"
        )
