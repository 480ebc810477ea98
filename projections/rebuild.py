"""Rebuild export_logs from the events into a shadow table, then swap it in.

The steps, each safe to interrupt (Ctrl-C or kill -9) until the last:

1. Take the rebuild lock and drop shadows a killed rebuild left behind.
2. Bulk-load a new shadow: stream every event up to the head of a
   repeatable-read snapshot, grouped by export, fold each export's events
   with the projection's own :func:`projections.fold.apply`, COPY the rows.
3. Index the shadow and catch it up with the follower's own batch code.
4. In one transaction that holds the live table's tracking row (so the
   follower pauses): bring live and shadow to the same log position, compare
   them row by row, and, unless checking, swap the shadow in. Readers are
   blocked only for the final DROP/RENAME, never see an empty or partial
   table, and the follower resumes from the swapped-in tracking position.

Until step 4 commits, the live table and its tracking are untouched.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from domain.exceptions import ReadModelError, RebuildInProgress
from projections.changes import Change
from projections.fold import Row, apply
from projections.history import fold_versions_by_export
from projections.store import (
    LIVE_TABLE,
    VERSIONS_TABLE,
    Connection,
    copy_versions,
    head_position,
    project_batch,
    statement,
    stream_events_by_aggregate,
    tracking_position,
    versions_table,
)

_REBUILD_LOCK = 0x4578_5265_6275  # one rebuild at a time per database
SHADOW_PREFIX = LIVE_TABLE + "_rebuild_"
_EXAMPLES = 20
_MAX_LIVE_CATCH_UP = 50_000


@dataclass
class Differences:
    missing: int = 0
    extra: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # why the tables could not be compared row by row
    versions: int = 0  # versions of export_log_versions missing, extra or different

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.different

    @property
    def drifted(self) -> bool:
        return self.total > 0 or self.versions > 0 or self.problem is not None


@dataclass
class RebuildReport:
    events: int
    rows: int
    position: int
    seconds: float
    differences: Differences
    swapped: bool

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


Progress = Callable[[int], None]


def rebuild(
    url: str,
    *,
    swap: bool = True,
    on_total: Callable[[int], None] = lambda _: None,
    on_events: Progress = lambda _: None,
) -> RebuildReport:
    """Rebuild (or with ``swap=False`` only check) the live read table."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as control:
        _take_rebuild_lock(control)
        drop_leftover_shadows(control)
        shadow = SHADOW_PREFIX + secrets.token_hex(4)
        try:
            control.execute(statement("create_read_table"), (shadow,))
            control.execute(statement("create_versions_table"), (versions_table(shadow),))
            events, rows, _ = bulk_load(url, shadow, on_total, on_events)
            control.execute(statement("index_read_table"), (shadow,))
            control.execute(statement("index_versions_table"), (versions_table(shadow),))
            events += _catch_up(control, shadow, upto=None)
            differences, position = _finish(control, shadow, swap=swap)
        finally:
            if not swap or _exists(control, shadow):
                _drop_shadow(control, shadow)
            _drop_shadow(control, versions_table(shadow))
            # Released now, not when the server gets round to ending this session:
            # a rebuild right after this one must not find the lock still held.
            control.execute("SELECT pg_advisory_unlock(%s)", (_REBUILD_LOCK,))
    return RebuildReport(
        events=events,
        rows=rows,
        position=position,
        seconds=time.perf_counter() - started,
        differences=differences,
        swapped=swap,
    )


def bulk_load(
    url: str, shadow: str, on_total: Callable[[int], None], on_events: Progress
) -> tuple[int, int, int]:
    """Fold every event up to a consistent head into ``shadow``'s history
    with COPY, and fill ``shadow`` with the open versions.

    Returns (events, rows, head). The snapshot is repeatable-read, so the
    head and the events read agree; ids at or below a visible id are final
    (see projections/follower.py), so nothing at or below the head is missed.
    """
    with psycopg.connect(url) as reader, psycopg.connect(url) as writer:
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
            history = versions_table(shadow)
            with writer.transaction():
                copy_versions(writer, history, fold_versions_by_export(changes))
                rows = writer.execute(
                    statement("rows_from_versions", table=shadow, versions=history)
                ).rowcount
                writer.execute(statement("start_tracking"), (shadow, head))
    return events, rows, head


def fold_by_export(changes: Iterable[Change]) -> Iterator[Row]:
    """One row per export still in the table, from changes grouped by export."""
    current = -1
    row: Row | None = None
    for change in changes:
        if change.aggregate_id.int != current:  # ints compare faster than UUIDs
            if row is not None:
                yield row
            current, row = change.aggregate_id.int, None
        row = apply(row, change)
    if row is not None:
        yield row


def drop_leftover_shadows(conn: Connection) -> list[str]:
    """Drop shadows of rebuilds that were killed (the caller holds the lock)."""
    names = [r[0] for r in conn.execute(statement("shadow_tables")).fetchall()]
    for name in names:
        _drop_shadow(conn, name)
    return names


def _finish(conn: Connection, shadow: str, *, swap: bool) -> tuple[Differences, int]:
    with conn.transaction():
        # The follower locks this row for each batch: holding it pauses the follower.
        conn.execute(statement("lock_tracking"), (LIVE_TABLE,))
        live_position = tracking_position(conn, LIVE_TABLE) or 0
        shadow_position = tracking_position(conn, shadow) or 0
        target = max(live_position, shadow_position)
        _catch_up(conn, shadow, upto=target)
        problem = _bring_live_to(conn, target, live_position, swap=swap)
        differences = compare(conn, shadow)
        differences.problem = problem
        differences.versions = compare_versions(conn, versions_table(shadow))
        if swap:
            conn.execute("SET LOCAL lock_timeout = '30s'")
            conn.execute(statement("swap_read_table"), (shadow, LIVE_TABLE))
            conn.execute(
                statement("swap_versions_table"), (versions_table(shadow), VERSIONS_TABLE)
            )
    return differences, target


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


def compare(conn: Connection, shadow: str, examples: int = _EXAMPLES) -> Differences:
    """How the live table differs from ``shadow`` (what the events say)."""
    found = conn.execute(statement("differences", table=LIVE_TABLE, shadow=shadow)).fetchall()
    kinds = {row[0]: row[1] for row in found}
    differences = Differences(
        missing=sum(k == "missing" for k in kinds.values()),
        extra=sum(k == "extra" for k in kinds.values()),
        different=sum(k == "different" for k in kinds.values()),
    )
    if kinds:
        sample = sorted(kinds, key=str)[:examples]
        pairs = conn.execute(
            statement("row_pairs", table=LIVE_TABLE, shadow=shadow), (sample,)
        ).fetchall()
        kind_by_export = {
            (live or expected)["export_id"]: (live, expected) for _, live, expected in pairs
        }
        differences.examples = [
            _example(export_id, _kind(live, expected), live, expected)
            for export_id, (live, expected) in sorted(kind_by_export.items())
        ]
    return differences


def compare_versions(conn: Connection, shadow_versions: str) -> int:
    """How many versions the live history lacks, has extra, or holds otherwise."""
    row = conn.execute(
        statement("version_differences", table=VERSIONS_TABLE, shadow=shadow_versions)
    ).fetchone()
    return sum(row) if row else 0


def _kind(live: Any, expected: Any) -> str:
    return "extra" if expected is None else "missing" if live is None else "different"


def _example(export_id: str, kind: str, live: Any, expected: Any) -> dict[str, Any]:
    example: dict[str, Any] = {"export_id": export_id, "kind": kind}
    if live and expected:
        example["columns"] = {
            key: {"live": live.get(key), "expected": value}
            for key, value in expected.items()
            if live.get(key) != value
        }
    return example


def _catch_up(conn: Connection, table: str, upto: int | None) -> int:
    total = 0
    while True:
        folded, _ = project_batch(conn, table, upto=upto, limit=5000)
        total += folded
        if folded == 0:
            return total


def _take_rebuild_lock(conn: Connection) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_REBUILD_LOCK,)).fetchone()
    if not row or not row[0]:
        raise RebuildInProgress("another rebuild of export_logs is running; try again later")


def _exists(conn: Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _drop_shadow(conn: Connection, name: str) -> None:
    conn.execute(statement("drop_table", table=name))
    conn.execute(statement("drop_tracking"), (name,))
