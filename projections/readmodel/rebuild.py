"""Rebuild export_logs from the events into a shadow table, then swap it in.

The steps, each safe to interrupt (Ctrl-C or kill -9) until the last:

1. Take the rebuild lock and drop shadows a killed rebuild left behind.
2. Bulk-load a new shadow: stream every event up to the head of a
   repeatable-read snapshot, grouped by export, fold each export's events
   with the projection's own :func:`projections.readmodel.fold.apply`, COPY the rows.
3. Index the shadow and catch it up with the follower's own batch code.
4. In one transaction that holds the live table's tracking row (so the
   follower pauses): bring live and shadow to the same log position, compare
   them row by row, and, unless checking, swap the shadow in. Readers are
   blocked only for the final DROP/RENAME, never see an empty or partial
   table, and the follower resumes from the swapped-in tracking position.

Until step 4 commits, the live table and its tracking are untouched.

The history table (export_log_versions, one row per event) is four times
the read table and the follower keeps it in the same transactions, so by
default only its open versions, which must equal the rebuilt rows, are
checked in step 4. When they differ, or the live table is too far behind to
compare, the same steps run again for both tables, folding and comparing
every version (also asked for with ``history=True``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from domain.exceptions import ReadModelError, RebuildInProgress
from projections.db import loop
from projections.db.database import Database
from projections.readmodel.drift import (
    Differences,
    compare,
    compare_open_versions,
    compare_versions,
)
from projections.readmodel.fold import fold_by_export
from projections.readmodel.history import fold_versions_by_export
from projections.readmodel.store import (
    Connection,
    copy_rows,
    copy_versions,
    head_position,
    project_batch,
    stream_events_by_aggregate,
    tracking_position,
    versions_table,
)
from sql import statement
from sql.names import LIVE_TABLE, VERSIONS_TABLE

_REBUILD_LOCK = 0x4578_5265_6275  # one rebuild at a time per database
SHADOW_PREFIX = LIVE_TABLE + "_rebuild_"
_MAX_LIVE_CATCH_UP = 50_000


@dataclass
class RebuildReport:
    events: int
    rows: int
    position: int
    seconds: float
    differences: Differences
    swapped: bool
    history: bool  # every version of export_log_versions folded (and swapped in)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


Progress = Callable[[int], None]


@dataclass(frozen=True)
class _Pass:
    events: int
    rows: int
    position: int
    differences: Differences
    swapped: bool


def rebuild(
    db: Database,
    *,
    swap: bool = True,
    history: bool = False,
    on_total: Callable[[int], None] = lambda _: None,
    on_events: Progress = lambda _: None,
) -> RebuildReport:
    """Rebuild (or with ``swap=False`` only check) the live read table, and
    its whole history when asked, when it has drifted, or when it cannot be
    checked (see the module's docstring).

    The owner creates, indexes, swaps and drops the shadow tables; the events are
    folded into them as the projector's login."""
    started = time.perf_counter()
    totals: list[int] = []

    def total(head: int) -> None:  # a second pass adds its events to the first's
        totals.append(head)
        on_total(sum(totals))

    with db.owner(autocommit=True) as control:
        _take_rebuild_lock(control)
        try:
            drop_leftover_shadows(control)
            history = history or (swap and _far_behind(control))
            done = _rebuild_pass(control, db, swap, history, total, on_events)
            differences, events = done.differences, done.events
            if swap and not history and (differences.versions or differences.problem):
                history = True  # the rows are right (or untouched); the history is not
                done = _rebuild_pass(control, db, swap, history, total, on_events)
                differences.versions = done.differences.versions
                differences.every_version = True
                events += done.events
        finally:
            # Released now, not when the server gets round to ending this session:
            # a rebuild right after this one must not find the lock still held.
            control.execute(statement("rebuild", "release_rebuild_lock"), {"key": _REBUILD_LOCK})
    return RebuildReport(
        events=events,
        rows=done.rows,
        position=done.position,
        seconds=time.perf_counter() - started,
        differences=differences,
        swapped=done.swapped,
        history=history,
    )


def _rebuild_pass(
    control: Connection,
    db: Database,
    swap: bool,
    history: bool,
    on_total: Callable[[int], None],
    on_events: Progress,
) -> _Pass:
    shadow = SHADOW_PREFIX + secrets.token_hex(4)
    try:
        control.execute(statement("rebuild", "create_read_table"), {"table": shadow})
        if history:
            versions = {"table": versions_table(shadow)}
            control.execute(statement("rebuild", "create_versions_table"), versions)
        loaded = [shadow, versions_table(shadow)] if history else [shadow]
        for table in loaded:  # the projector's login loads it: COPY, without RLS
            control.execute(statement("rebuild", "pause_row_security", table=table))
        events, rows = bulk_load(db, shadow, on_total, on_events, history=history)
        for table in loaded:
            control.execute(statement("rebuild", "resume_row_security", table=table))
        control.execute(statement("rebuild", "index_read_table"), {"table": shadow})
        if history:
            control.execute(statement("rebuild", "index_versions_table"), versions)
        events += _catch_up(control, shadow, upto=None, history=history)
        differences, position, swapped = _finish(control, shadow, swap=swap, history=history)
    finally:
        if _exists(control, shadow):
            _drop_shadow(control, shadow)
        _drop_shadow(control, versions_table(shadow))
    return _Pass(events, rows, position, differences, swapped)


def bulk_load(
    db: Database,
    shadow: str,
    on_total: Callable[[int], None],
    on_events: Progress,
    *,
    history: bool = False,
) -> tuple[int, int]:
    """Fold every event up to a consistent head into ``shadow`` with COPY
    (with ``history``: into its history, then fill ``shadow`` with the open
    versions), and track ``shadow`` from the head.

    Returns (events, rows). The snapshot is repeatable-read, so the head and
    the events read agree; ids at or below a visible id are final
    (see projections/readmodel/follower.py), so nothing at or below the head is missed.
    """
    with db.projector() as reader, db.projector() as writer:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        reader.read_only = True
        with reader.transaction():
            head = head_position(reader)
            on_total(head)
            events = 0

            def counted(n: int) -> None:
                nonlocal events
                events += n
                on_events(n)

            changes = stream_events_by_aggregate(reader, head, counted)
            with writer.transaction():
                if history:
                    versions = versions_table(shadow)
                    copy_versions(writer, versions, fold_versions_by_export(changes))
                    rows = writer.execute(
                        statement("rebuild", "rows_from_versions", table=shadow, versions=versions)
                    ).rowcount
                else:
                    rows = copy_rows(writer, shadow, fold_by_export(changes))
                writer.execute(
                    statement("read_model", "start_tracking"), {"table": shadow, "position": head}
                )
    return events, rows


def drop_leftover_shadows(conn: Connection) -> None:
    """Drop shadows of rebuilds that were killed (the caller holds the lock)."""
    pattern = {"pattern": SHADOW_PREFIX.replace("_", r"\_") + "%"}
    for (name,) in conn.execute(statement("rebuild", "shadow_tables"), pattern).fetchall():
        _drop_shadow(conn, name)


def _finish(
    conn: Connection, shadow: str, *, swap: bool, history: bool
) -> tuple[Differences, int, bool]:
    """Compare at one position and swap; returns (differences, position, swapped)."""
    with conn.transaction():
        # The follower locks this row for each batch: holding it pauses the follower.
        conn.execute(statement("read_model", "lock_tracking"), {"table": LIVE_TABLE})
        live_position = tracking_position(conn, LIVE_TABLE) or 0
        shadow_position = tracking_position(conn, shadow) or 0
        target = max(live_position, shadow_position)
        _catch_up(conn, shadow, upto=target, history=history)
        problem = _bring_live_to(conn, target, live_position, swap=swap)
        differences = compare(conn, shadow)
        differences.problem = problem
        if history:
            differences.versions = compare_versions(conn, versions_table(shadow))
            differences.every_version = True
        elif problem is None:
            differences.versions = compare_open_versions(conn, shadow)
        # Without a rebuilt history, the old one must stand at the target too.
        swapped = swap and (history or problem is None)
        if swapped:
            conn.execute(statement("rebuild", "swap_lock_timeout"))
            tables = {"shadow": shadow, "live": LIVE_TABLE}
            conn.execute(statement("rebuild", "swap_read_table"), tables)
            if history:
                tables = {"shadow": versions_table(shadow), "live": VERSIONS_TABLE}
                conn.execute(statement("rebuild", "swap_versions_table"), tables)
    return differences, target, swapped


def _bring_live_to(conn: Connection, target: int, live_position: int, *, swap: bool) -> str | None:
    """Fold the live table up to ``target`` so both tables can be compared at
    one position; None when done, else why they cannot be compared."""
    behind = target - live_position
    if swap and behind > _MAX_LIVE_CATCH_UP:
        # Its rows are about to be replaced: folding them first is wasted work.
        return f"the live table was {behind:,} events behind; replaced without comparing"
    try:
        with conn.transaction():
            _catch_up(conn, LIVE_TABLE, upto=target)
    except ReadModelError as error:
        return f"the live table cannot follow the events: {error}"
    return None


def _far_behind(conn: Connection) -> bool:
    """Whether the live table lags too far to be compared (so will be replaced
    unchecked, and its history with it)."""
    live = tracking_position(conn, LIVE_TABLE) or 0
    return head_position(conn) - live > _MAX_LIVE_CATCH_UP


def _catch_up(conn: Connection, table: str, upto: int | None, *, history: bool = True) -> int:
    """Fold ``table`` up to ``upto`` (or the head), batch after batch until one
    finds nothing; returns the events folded."""

    def batch() -> int:
        return project_batch(conn, table, upto=upto, limit=5000, history=history)[0]

    return loop.catch_up(batch, last=lambda folded: folded == 0)


def _take_rebuild_lock(conn: Connection) -> None:
    row = conn.execute(statement("rebuild", "take_rebuild_lock"), {"key": _REBUILD_LOCK}).fetchone()
    if not row or not row[0]:
        raise RebuildInProgress("another rebuild of export_logs is running; try again later")


def _exists(conn: Connection, table: str) -> bool:
    row = conn.execute(statement("rebuild", "table_exists"), {"table": table}).fetchone()
    return bool(row and row[0])


def _drop_shadow(conn: Connection, name: str) -> None:
    conn.execute(statement("rebuild", "drop_table", table=name))
    conn.execute(statement("read_model", "drop_tracking"), {"table": name})
