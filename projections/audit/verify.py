"""``export-ledger verify``: check the whole ledger against itself and its seals.

From one repeatable-read snapshot:

1. The log. Every stored event, in log order through a binary server-side
   cursor, is hashed into its leaf (domain/tlog/merkle.py) and appended to a tree
   rebuilt from nothing. Each event must match the sealed leaf of its
   position, each checkpoint (and each checkpoint saved elsewhere, ``against``)
   the rebuilt root at its size, every signature must hold and be by the key
   of its tree size (projections/tlog/keys.py: not one retired before), and each
   aggregate's versions must run 1, 2, 3... in log order; and every download
   must name its export's completed file's checksum, if it names one
   (projections/audit/artifacts.py).
2. The read table. Every export_logs row must equal what the projection's own
   fold (:func:`projections.readmodel.fold.fold_by_export`) makes of the events up to
   the table's tracking position. On a large log this pass runs in a second
   process, on the same snapshot (``SET TRANSACTION SNAPSHOT``), beside the first.

The download check rides on the log pass: it reads the checksum of each
``Completed`` and ``Downloaded`` event it hashes (projections/audit/artifacts.py).

Every problem names a log position; the report lists them first position first.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from domain.exceptions import ExportKeyMissing, ReadModelError, SealedValueInvalid
from domain.tlog import merkle
from projections.audit.artifacts import TOPICS, DownloadCheck
from projections.db.database import Database
from projections.readmodel.changes import Change
from projections.readmodel.drift import compare
from projections.readmodel.fold import fold_by_export
from projections.readmodel.store import (
    copy_rows,
    prefetched,
    stream_events_by_aggregate,
    tracking_position,
)
from projections.tlog.checkpoints import Checkpoint, all_checkpoints
from projections.tlog.keys import all_keys, key_problems
from projections.tlog.proofs import EXAMPLES_PER_KIND, Problems, checkpoint_problems
from projections.tlog.sealer import leaf_count
from sql import statement
from sql.names import ADMIN_ROLE, LIVE_TABLE

Connection = psycopg.Connection[Any]
Progress = Callable[[int], None]
Add = Callable[..., None]  # Problems.add
Labelled = tuple[str, Checkpoint]
PARALLEL_FROM = 100_000  # events; below this a second process costs more than it saves
UNKNOWN = 2**63 - 1  # the position of a problem no event can be blamed for
_FOLDED = "verify_folded"
# ExportKeyMissing, SealedValueInvalid: an event forged or moved from another export,
# whose values were sealed under that export's key (their associated data binds it).
_UNFOLDABLE = (ReadModelError, ValueError, LookupError, TypeError, ExportKeyMissing,
               SealedValueInvalid, psycopg.DataError, psycopg.IntegrityError)  # fmt: skip


@dataclass(frozen=True)
class VerifyReport:
    events: int
    sealed: int
    checkpoints: int
    saved: int
    rows: int
    seconds: float
    problems: Problems

    @property
    def ok(self) -> bool:
        return self.problems.total == 0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def verify(
    db: Database,
    *,
    against: Sequence[Checkpoint] = (),
    against_label: str = "saved checkpoint",
    trusted: frozenset[str] | None = None,
    parallel_from: int = PARALLEL_FROM,
    on_total: Progress = lambda _: None,
    on_events: Progress = lambda _: None,
) -> VerifyReport:
    """Check everything (see the module docstring); writes only a temporary table."""
    started = time.perf_counter()
    problems = Problems()
    with _on(db) as conn:
        snapshot = str(conn.execute(statement("verify", "export_snapshot")).fetchone()[0])  # type: ignore[index]
        events, upto, folded = _extent(conn)
        on_total(events + folded)
        stored = all_checkpoints(conn)
        for problem in checkpoint_problems(stored, against, trusted, against_label):
            problems.add(*problem)
        for problem in key_problems(stored, all_keys(conn)):
            problems.add(*problem)
        due: dict[int, list[Labelled]] = {}
        for label, cps in (("checkpoint", stored), (against_label, against)):
            for cp in cps:
                due.setdefault(cp.tree_size, []).append((label, cp))
        if events >= parallel_from:
            read = (db, snapshot, upto)
            events, sealed, rows = _in_parallel(conn, read, due, problems, on_events)
        else:
            events, sealed = _check_log(conn, problems.add, due, on_events)
            rows = _check_read_table(db, snapshot, upto, problems.add, on_events)
    seconds = time.perf_counter() - started
    return VerifyReport(events, sealed, len(stored), len(against), rows, seconds, problems)


@contextmanager
def _on(db: Database, snapshot: str | None = None, read_only: bool = True) -> Iterator[Connection]:
    """A repeatable-read transaction, on another transaction's snapshot if given."""
    with db.connect(ADMIN_ROLE) as conn:  # reads everything, writes only its temp table
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = read_only
        with conn.transaction():
            if snapshot is not None:
                conn.execute(statement("verify", "set_snapshot", snapshot=sql.Literal(snapshot)))
            yield conn


def work(conn: Connection) -> int:
    """The events the two passes read: the log, and the log up to export_logs' position."""
    events, _, folded = _extent(conn)
    return events + folded


def _extent(conn: Connection) -> tuple[int, int, int]:
    """(events in the log, the position export_logs includes, events up to it)."""
    upto = tracking_position(conn, LIVE_TABLE) or 0
    return _count(conn, "event_count"), upto, _count(conn, "events_upto", position=upto)


def _count(conn: Connection, name: str, **params: int) -> int:
    row = conn.execute(statement("verify", name), params).fetchone()
    return int(row[0]) if row else 0


def _check_log(
    conn: Connection, add: Add, due: dict[int, list[Labelled]], on_events: Progress
) -> tuple[int, int]:
    """The log pass; returns (events, sealed leaves). One flat loop with local
    names, because it runs once per event: the leaf and the tree's right edge
    are computed inline, and anything unusual goes to a slower helper."""
    sealed = leaf_count(conn)
    leaves = _rows(conn, "log_leaves")
    versions: dict[bytes, int] = {}
    peaks: list[bytes] = []
    leaf, size, since = next(leaves, None), 0, None
    leaf_hash, sha256 = merkle.leaf_hash, hashlib.sha256
    downloads, watched = DownloadCheck(add), TOPICS
    with conn.cursor(name="verify_log", binary=True) as cur:
        cur.execute(statement("verify", "log_events"))
        for rows in prefetched(cur, 10_000):
            for position, aggregate, version, topic, state in rows:
                previous = versions.get(aggregate, 0)
                if previous + 1 != version:
                    add(position, "version", _version_gap(aggregate, version, previous))
                versions[aggregate] = version
                if topic in watched:
                    downloads.see(position, aggregate, topic, state or b"")
                node = leaf_hash(position, aggregate, version, topic or "", state or b"")
                if leaf is None or leaf[1] != position or leaf[2] != node or leaf[0] != size:
                    leaf = _leaf_problem(leaves, leaf, position, node, size, add)
                else:
                    leaf = next(leaves, None)
                since = position if since is None else since
                grown = size
                while grown & 1:
                    node = sha256(b"\x01" + peaks.pop() + node).digest()
                    grown >>= 1
                peaks.append(node)
                size += 1
                if size in due and _checkpoints(due.pop(size), peaks, since, position, add):
                    since = None
            on_events(len(rows))
    _leaf_problem(leaves, leaf, 2**63, b"", size, add)  # sealed leaves left over
    for checkpoints in due.values():
        for label, cp in checkpoints:
            message = f"{label} of size {cp.tree_size}, but the log has only {size} events"
            add(cp.position, "root", message)
    return size, sealed


def _leaf_problem(
    leaves: Iterator[Any], leaf: Any, position: int, node: bytes, index: int, add: Add
) -> Any:
    """Name what differs between the event at ``position`` (leaf ``index`` of the
    rebuilt tree) and the sealed leaves; returns the next sealed leaf to compare."""
    while leaf is not None and leaf[1] < position:
        add(leaf[1], "missing", f"sealed as leaf {leaf[0]}, but no event has this position")
        leaf = next(leaves, None)
    if leaf is None or leaf[1] > position:
        if leaf is not None:
            add(position, "inserted", "the event is not in the sealed log, but later ones are")
        return leaf
    if leaf[2] != node:
        add(position, "changed", "the event does not hash to its sealed leaf")
    elif leaf[0] != index:
        add(position, "moved", f"sealed as leaf {leaf[0]}, but now leaf {index} of the log")
    return next(leaves, None)


def _checkpoints(
    checkpoints: list[Labelled], peaks: list[bytes], since: int | None, position: int, add: Add
) -> bool:
    """Check the checkpoints of the tree's current size; True if all match."""
    root, matched = merkle.peaks_root(peaks), True
    for label, cp in checkpoints:
        where = f"{label} of size {cp.tree_size} (position {cp.position})"
        if cp.root != root:
            span = f"an event at positions {since} to {position} changed"
            add(position, "root", f"{where}: the events hash to another root; {span}")
            matched = False
        elif cp.position != position:
            add(position, "root", f"{where}: its last event is at position {position}")
            matched = False
    return matched


def _version_gap(aggregate: bytes, version: int, previous: int) -> str:
    return f"version {version} of aggregate {UUID(bytes=aggregate)} follows version {previous}"


def _rows(conn: Connection, name: str, size: int = 10_000) -> Generator[Any, None, None]:
    """The rows of a named query through a binary server-side cursor."""
    with conn.cursor(name=f"verify_{name}", binary=True) as cur:
        cur.execute(statement("verify", name))
        while rows := cur.fetchmany(size):
            yield from rows


def _in_parallel(
    conn: Connection,
    read: tuple[Database, str, int],
    due: dict[int, list[Labelled]],
    problems: Problems,
    on_events: Progress,
) -> tuple[int, int, int]:
    """Both passes at once, the read-table pass in a second process on the same
    snapshot (``read``: the database, snapshot, position). Returns (events, sealed, rows)."""
    context = multiprocessing.get_context("spawn")
    done, reported = context.RawValue("q", 0), 0

    def advance(n: int) -> None:
        nonlocal reported
        now = int(done.value)
        on_events(n + now - reported)
        reported = now

    with ProcessPoolExecutor(1, context, initializer=_share, initargs=(done,)) as pool:
        future = pool.submit(_read_table_child, *read)
        events, sealed = _check_log(conn, problems.add, due, advance)
        while not wait([future], timeout=0.2).done:
            advance(0)
        found, rows = future.result()
    advance(0)
    problems.merge(found)
    return events, sealed, rows


_done: Any = None  # in the child: its count of events folded, read by the parent


def _share(done: Any) -> None:
    global _done
    _done = done


def _read_table_child(db: Database, snapshot: str, upto: int) -> tuple[Problems, int]:
    def advance(n: int) -> None:
        _done.value += n

    problems = Problems()
    return problems, _check_read_table(db, snapshot, upto, problems.add, advance)


def _check_read_table(db: Database, snapshot: str, upto: int, add: Add, on_events: Progress) -> int:
    """Fold the events up to export_logs' position into a temporary table with
    the rebuild's own code, and compare the two as ``rebuild --check`` does.
    Two connections, as the rebuild's bulk load: one streams, one copies."""
    last = [0]

    def seen(changes: Iterator[Change]) -> Iterator[Change]:
        for change in changes:
            last[0] = change.position
            yield change

    try:
        with _on(db, snapshot) as reader, _on(db, snapshot, read_only=False) as writer:
            writer.execute(statement("verify", "create_folded", folded=_FOLDED))
            # export_logs has no actor: the fold never reads it, so it stays sealed
            # (its bytes are the log pass's, hashed into the event's leaf).
            changes = stream_events_by_aggregate(reader, upto, on_events, actor=False)
            try:
                rows = copy_rows(writer, _FOLDED, fold_by_export(seen(changes)))
            finally:
                changes.close()  # type: ignore[attr-defined]  # its cursor, in the transaction
            differences = compare(writer, _FOLDED, EXAMPLES_PER_KIND)
            ids = [e["export_id"] for e in differences.examples]
            folded_positions = statement("verify", "folded_positions", folded=_FOLDED)
            positions = dict(writer.execute(folded_positions, {"export_ids": ids}).fetchall())
    except _UNFOLDABLE as error:  # a changed event that no longer folds: where is unknown
        why = f"{type(error).__name__}: {error}; last folded: position {last[0]}"
        add(UNKNOWN, "row", f"the events no longer fold ({why})")
        return 0
    for example in differences.examples:
        add(positions.get(example["export_id"], UNKNOWN), "row", _row_problem(example))
    if differences.total > len(differences.examples):
        add(UNKNOWN, "row", "", differences.total - len(differences.examples))
    return rows


def _row_problem(example: dict[str, Any]) -> str:
    export_id, kind = example["export_id"], example["kind"]
    if kind != "different":
        return f"export_logs {'lacks' if kind == 'missing' else 'has an extra'} row {export_id}"
    columns = "; ".join(
        f"{name} is {pair['live']!r}, its events say {pair['expected']!r}"
        for name, pair in example.get("columns", {}).items()
    )
    return f"export_logs row of {export_id}: {columns}"
