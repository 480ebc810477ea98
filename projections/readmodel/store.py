"""SQL access of the projection: tracking, reading events, writing rows.

Every write of rows happens in the same transaction as the move of that
table's tracking position, so a crash at any moment leaves either both or
neither: each event is folded into the table exactly once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

from domain import topics
from domain.exceptions import NotMigrated
from domain.privacy import ExportKey, erased_value
from projections.readmodel.changes import Change, any_keyed, decode, keyed_exports
from projections.readmodel.fold import COLUMNS, VERSION_COLUMNS, Row, fold_export
from projections.readmodel.holds import HOLD_EVENTS, write_holds
from projections.readmodel.shedding import shed_versions, snapshot_tables
from projections.subject_keys import KeySnapshot
from sql import statement
from sql.names import LIVE_TABLE, PROJECTED_CHANNEL, VERSIONS_TABLE

Connection = psycopg.Connection[Any]
T = TypeVar("T")


def versions_table(table: str) -> str:
    """The history table that goes with a read table (a shadow has its own)."""
    return VERSIONS_TABLE if table == LIVE_TABLE else f"{table}_versions"


def head_position(conn: Connection) -> int:
    row = conn.execute(statement("read_model", "head_position")).fetchone()
    return int(row[0]) if row else 0


def tracking_position(conn: Connection, table: str) -> int | None:
    row = conn.execute(statement("read_model", "tracking_position"), {"table": table}).fetchone()
    return None if row is None else int(row[0])


def project_batch(
    conn: Connection,
    table: str = LIVE_TABLE,
    *,
    upto: int | None = None,
    limit: int = 1000,
    history: bool = True,
) -> tuple[int, int]:
    """Fold the next events after ``table``'s tracking position into it (and,
    unless ``history`` is false, into its history table).

    Returns (events folded, new position). Locks the tracking row first, so
    two followers, or a follower and a rebuild's swap, take turns.
    """
    with conn.transaction():
        row = conn.execute(statement("read_model", "lock_tracking"), {"table": table}).fetchone()
        if row is None:
            raise NotMigrated(f"no tracking row for {table!r}: run 'export-ledger migrate'")
        position = int(row[0])
        bound = upto if upto is not None else 2**63 - 1
        stored = conn.execute(
            statement("read_model", "events_after"),
            {"after": position, "upto": bound, "limit": limit},
        ).fetchall()
        if not stored:
            return 0, position
        keys = KeySnapshot(conn).preload_exports(keyed_exports(stored))
        changes = [c for row in stored if (c := decode(row, keys)) is not None]
        write_changes(conn, table, changes, history=history)
        erase_rows(conn, table, [r[4] for r in stored if r[3] == topics.ERASED], history=history)
        new_position = int(stored[-1][0])
        conn.execute(
            statement("read_model", "set_tracking"), {"position": new_position, "table": table}
        )
        conn.execute(
            statement("channels", "notify"),
            {"channel": PROJECTED_CHANNEL, "payload": f"{table}:{new_position}"},
        )
        return len(stored), new_position


def write_changes(
    conn: Connection, table: str, changes: Sequence[Change], *, history: bool = True
) -> None:
    """Apply changes to the rows they touch, reading those rows first, and
    record the versions they make in the table's history (same transaction;
    a shadow rebuilt without its history has none to record in)."""
    if not changes:
        return
    by_export: dict[UUID, list[Change]] = {}
    for change in changes:
        by_export.setdefault(change.aggregate_id, []).append(change)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(statement("read_model", "rows_by_id", table=table), {"ids": list(by_export)})
        rows: dict[UUID, Row | None] = {r["id"]: r for r in cur}
    versions: list[Row] = []
    owners: dict[UUID, tuple[str, str]] = {}
    for key, export_changes in by_export.items():
        rows[key], opened = fold_export(rows.get(key), export_changes)
        versions.extend(opened)
        if (row := rows[key]) is not None:
            owners[key] = (row["export_id"], row["user_id"])
    if any(c.type in HOLD_EVENTS for c in changes):
        write_holds(conn, changes, owners)
    upserts = [r for r in rows.values() if r is not None]
    gone = [key for key, r in rows.items() if r is None]
    if upserts:
        conn.execute(
            statement("read_model", "upsert_rows", table=table), _columns(upserts, COLUMNS)
        )
    if gone:
        conn.execute(statement("read_model", "delete_rows", table=table), {"ids": gone})
    if history:
        _record_versions(conn, versions_table(table), list(by_export.values()), versions)
        shed_versions(conn, versions_table(table), changes)


def erase_rows(
    conn: Connection, table: str, erasures: Sequence[bytes], *, history: bool = True
) -> None:
    """Show erased subjects' exports as erased in the read tables: what folding their
    events gives once the key is gone (the rebuild folds them so from the start). The
    live tables' erasure erases the snapshots ``rebuild --as-of --into`` made, too."""
    if not erasures:
        return
    tables = [table, *([versions_table(table)] if history else [])]
    if table == LIVE_TABLE:
        tables.extend(snapshot_tables(conn))
    for state in erasures:
        erased = orjson.loads(state)
        params = {"user_id": erased_value("user_id", erased["subject"]),
                  "export_ids": erased["export_ids"]}  # fmt: skip
        for name in tables:
            conn.execute(statement("subjects", "erase_rows", table=name), params)
        conn.execute(statement("subjects", "erase_holds"), params)


FEW_EXPORTS = 100
"""Up to this many exports in a batch, their open versions are closed by key lookups
(measured on 78,000 versions: a batch of 10 events 0.5 ms against 15 ms for the scan;
one of 1,000 events 95 ms against 66 ms)."""


def _record_versions(
    conn: Connection, history: str, by_export: list[list[Change]], versions: list[Row]
) -> None:
    firsts = [c[0] for c in by_export]
    closing = {
        "ids": [c.aggregate_id for c in firsts],
        "positions": [c.position for c in firsts],
        "times": [c.timestamp for c in firsts],
    }
    # Each export's open version ends at its first change here (before new ones open).
    # A few exports' rows are found by the primary key, many by one scan.
    name = "close_few_versions" if len(firsts) <= FEW_EXPORTS else "close_versions"
    conn.execute(statement("read_model", name, table=history), closing)
    if versions:
        conn.execute(
            statement("read_model", "insert_versions", table=history),
            _columns(versions, VERSION_COLUMNS),
        )


def _columns(rows: Sequence[Row], names: Sequence[str]) -> dict[str, list[Any]]:
    """Rows as one list per column, by column name, for the unnest() of a bulk write."""
    return {c: [_adapt(c, r[c]) for r in rows] for c in names}


_TIMESTAMPS = frozenset(
    {"timestamp", "expires_at", "created_at", "updated_at", "valid_from_time", "valid_to_time"}
)


def _adapt(column: str, value: Any) -> Any:
    """Rows read back hold datetimes, folded ones ISO text: send one kind."""
    if column == "config":
        return Jsonb(value)
    if column in _TIMESTAMPS and isinstance(value, datetime):
        return value.isoformat()
    return value


def copy_rows(conn: Connection, table: str, rows: Iterable[Row]) -> int:
    """Bulk-load export_logs rows with COPY; returns how many."""
    return _copy(conn, statement("read_model", "copy_rows", table=table), COLUMNS, rows)


def copy_versions(conn: Connection, table: str, versions: Iterable[Row]) -> None:
    """Bulk-load version rows with COPY."""
    _copy(conn, statement("read_model", "copy_versions", table=table), VERSION_COLUMNS, versions)


def _copy(
    conn: Connection, copy_statement: sql.Composed, columns: Sequence[str], rows: Iterable[Row]
) -> int:
    count = 0
    config = columns.index("config")
    with (
        conn.cursor() as cur,
        # A writer thread sends the data while this thread folds the next rows.
        cur.copy(copy_statement, writer=QueuedLibpqWriter(cur)) as copy,
    ):
        for row in rows:
            values = [row[c] for c in columns]
            values[config] = orjson.dumps(values[config]).decode()
            copy.write_row(values)
            count += 1
    return count


def stream_events_by_aggregate(
    conn: Connection,
    upto: int,
    on_events: Callable[[int], None],
    chunk: int = 10_000,
    actor: bool = True,
) -> Iterator[Change]:
    """Every export event up to ``upto``, grouped by aggregate in version order,
    through a binary server-side cursor (constant memory). ``on_events`` is
    told how many stored events each chunk held; ``actor`` False leaves each
    event's actor as stored (:func:`domain.privacy.open_state`)."""
    keys = KeySnapshot(conn).preload()  # in the same snapshot as the events
    with conn.cursor(name="rebuild_events", binary=True) as cur:
        cur.execute(statement("read_model", "events_by_aggregate"), {"upto": upto})

        # Each chunk's export keys are read by the fetching thread, after its rows: all
        # those of its range of aggregates, when any of its events needs one.
        def range_keys(rows: list[Any]) -> dict[int, ExportKey]:
            if not any_keyed(rows):
                return {}
            return keys.fetch_export_range(rows[0][1], rows[-1][1])

        chunks = prepared(cur, chunk, range_keys)
        for rows, export_keys in chunks:
            keys.use_exports(export_keys)
            for row in rows:
                change = decode(row, keys, actor)
                if change is not None:
                    yield change
            on_events(len(rows))


def prefetched(cur: psycopg.ServerCursor[Any], chunk: int) -> Iterator[list[Any]]:
    """Chunks of the cursor's rows, the next one fetched by a thread while the
    caller works on the current one (the server sorts while Python folds)."""
    chunks = prepared(cur, chunk, _nothing)
    try:
        for rows, _ in chunks:
            yield rows
    finally:
        chunks.close()


def _nothing(rows: list[Any]) -> None:
    return None


def prepared(
    cur: psycopg.ServerCursor[Any], chunk: int, prepare: Callable[[list[Any]], T]
) -> Generator[tuple[list[Any], T], None, None]:
    """Chunks of the cursor's rows with what ``prepare`` made of each, both done by a
    thread while the caller works on the chunk before (:func:`prefetched`)."""
    chunks: queue.Queue[tuple[list[Any], T] | BaseException | None] = queue.Queue(maxsize=2)
    stopping = threading.Event()

    def fetch() -> None:
        try:
            while not stopping.is_set() and (rows := cur.fetchmany(chunk)):
                chunks.put((rows, prepare(rows)))
            chunks.put(None)
        except BaseException as error:  # handed to the consumer, raised there
            chunks.put(error)

    fetcher = threading.Thread(target=fetch, name="rebuild-prefetch", daemon=True)
    fetcher.start()
    try:
        while True:
            item = chunks.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item
    finally:
        stopping.set()
        while fetcher.is_alive():  # unblock a fetcher waiting on a full queue
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
