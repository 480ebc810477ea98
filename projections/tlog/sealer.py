"""The sealer: appends every stored event to the Merkle tree and signs checkpoints.

Each batch is one transaction, exactly like the projection's
(:func:`projections.readmodel.store.project_batch`): lock the ``ledger_seal`` tracking
row, read the events after its position, append their leaves and the subtree
nodes they complete, sign a checkpoint of the new tree size, move the
tracking position. A crash leaves all of it or none, so every event becomes
exactly one leaf, in log order. Why reading in notification-id order never
skips an event that commits later: see projections/readmodel/follower.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from domain.exceptions import NotMigrated, SealedLogDamaged
from domain.tlog import merkle
from projections.db import loop
from projections.db.database import Database
from projections.tlog.checkpoints import (
    Checkpoint,
    log_origin,
)
from projections.tlog.keys import KeyRing, Signer, all_keys, as_ring, current_signer
from sql import statement
from sql.names import SEAL_TRACKING, SEALED_CHANNEL

Connection = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class SealResult:
    events: int
    tree_size: int
    position: int
    key_id: str | None = None  # the key that signed this batch's checkpoint


def row_leaf_hash(row: Sequence[Any]) -> bytes:
    """The leaf hash of a stored-event row (notification_id, originator_id as 16
    raw bytes, originator_version, topic, state), as domain.tlog.merkle defines it."""
    return merkle.leaf_hash(row[0], row[1], row[2], row[3] or "", row[4] or b"")


def leaf_count(conn: Connection) -> int:
    """The size of the sealed tree."""
    counted = conn.execute(statement("seal", "leaf_count")).fetchone()
    return int(counted[0]) if counted else 0


def fetch_nodes(conn: Connection, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of these complete subtrees (level 0: the leaves), one query."""
    wanted = set(nodes)
    inner = [(level, index) for level, index in wanted if level > 0]
    wanted_nodes = {
        "levels": [n[0] for n in inner],
        "indexes": [n[1] for n in inner],
        "leaves": [index for level, index in wanted if level == 0],
    }
    rows = conn.execute(statement("seal", "nodes"), wanted_nodes).fetchall()
    found = {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}
    if len(found) != len(wanted):
        missing = sorted(wanted - found.keys())[:5]
        raise SealedLogDamaged(f"the sealed log lacks subtree nodes {missing}")
    return found


def seal_batch(
    conn: Connection, keys: KeyRing | Signer, limit: int = 10_000, origin: str | None = None
) -> SealResult:
    """Seal the next ``limit`` events at most, signing with the current key
    (projections/tlog/keys.py) a checkpoint of the log ``origin`` (projections/tlog/checkpoints.py:
    None, the stored or default one); returns what was sealed."""
    with conn.transaction():
        tracking = {"table": SEAL_TRACKING}
        row = conn.execute(statement("read_model", "lock_tracking"), tracking).fetchone()
        if row is None:
            raise NotMigrated(f"no tracking row {SEAL_TRACKING!r}: run 'export-ledger migrate'")
        position, size = int(row[0]), leaf_count(conn)
        events = conn.execute(
            statement("seal", "events_after"), {"after": position, "limit": limit}, binary=True
        ).fetchall()
        if not events:
            return SealResult(0, size, position)
        signer = current_signer(conn, as_ring(keys), size)
        registered = all_keys(conn)
        name = log_origin(conn, origin, registered[0].key_id if registered else None)
        root = _append(conn, size, events)
        new_size, position = size + len(events), int(events[-1][0])
        _sign(conn, signer, name, Checkpoint(new_size, root, position, _now(), "", b"", None))
        conn.execute(statement("read_model", "set_tracking"), {**tracking, "position": position})
        conn.execute(
            statement("channels", "notify"), {"channel": SEALED_CHANNEL, "payload": str(new_size)}
        )
        return SealResult(len(events), new_size, position, signer.key_id)


def _append(conn: Connection, size: int, events: list[Any]) -> bytes:
    """Store the leaves of ``events`` after the tree's ``size`` leaves, and the
    subtree nodes they complete; returns the new tree's root."""
    peaks = _peaks(conn, size)
    leaves = [row_leaf_hash(e) for e in events]
    nodes = _grow(peaks, size, leaves)
    conn.execute(
        statement("seal", "insert_leaves"),
        {
            "indexes": list(range(size, size + len(leaves))),
            "positions": [int(e[0]) for e in events],
            "hashes": leaves,
        },
    )
    if nodes:
        levels, indexes, hashes = (list(c) for c in zip(*nodes, strict=True))
        conn.execute(
            statement("seal", "insert_nodes"),
            {"levels": levels, "indexes": indexes, "hashes": hashes},
        )
    return merkle.peaks_root([p[2] for p in peaks])


Peak = tuple[int, int, bytes]  # (level, index, hash) of a complete subtree on the right edge


def _peaks(conn: Connection, size: int) -> list[Peak]:
    nodes = merkle.range_nodes(0, size)
    found = fetch_nodes(conn, nodes)
    return [(level, index, found[level, index]) for level, index in nodes]


def _grow(peaks: list[Peak], size: int, leaves: list[bytes]) -> list[Peak]:
    """Append leaves to the right edge ``peaks`` (in place); returns every
    subtree node they complete, as (level, index, hash)."""
    completed: list[Peak] = []
    for offset, leaf in enumerate(leaves):
        level, index, node = 0, size + offset, leaf
        while peaks and peaks[-1][0] == level:
            node = merkle.hash_children(peaks.pop()[2], node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        peaks.append((level, index, node))
    return completed


def _now() -> datetime:
    return datetime.now(UTC)


def _sign(conn: Connection, signer: Signer, origin: str | None, unsigned: Checkpoint) -> None:
    text = replace(unsigned, origin=origin).text()
    conn.execute(
        statement("seal", "insert_checkpoint"),
        {
            "tree_size": unsigned.tree_size,
            "root": unsigned.root,
            "position": unsigned.position,
            "created_at": unsigned.created_at,
            "key_id": signer.key_id,
            "signature": signer.sign(text),
            "origin": origin,
        },
    )


class Sealer:
    """Seals new events until stopped; meant to run beside the follower.

    Each batch signs one checkpoint, so ``min_interval`` spaces batches out
    when following live traffic: at most one checkpoint per interval, which
    bounds the checkpoints a ``verify`` has to check.
    """

    def __init__(
        self,
        db: Database,
        keys: KeyRing | Signer,
        *,
        batch_size: int = 10_000,
        min_interval: float = 1.0,
        origin: str | None = None,
    ) -> None:
        self.db = db
        self.origin = origin
        self.keys = as_ring(keys)
        self.key_id: str | None = None  # of the last checkpoint signed
        self.batch_size = batch_size
        self.min_interval = min_interval
        self.tree_size = 0
        self.position = 0
        self.stopping = threading.Event()

    def catch_up(self, conn: Connection) -> int:
        """Seal until nothing is left; returns events sealed."""

        def batch() -> int:
            result = seal_batch(conn, self.keys, self.batch_size, self.origin)
            self.tree_size, self.position = result.tree_size, result.position
            self.key_id = result.key_id or self.key_id
            return result.events

        return loop.catch_up(
            batch, last=lambda sealed: sealed < self.batch_size, stopping=self.stopping
        )

    def run(self, on_batch: Callable[[int, int], None] = lambda _n, _s: None) -> None:
        """Seal until :meth:`stop`, waking on the events table's notifications."""
        loop.follow(
            self.db,
            self.catch_up,
            stopping=self.stopping,
            on_batch=lambda sealed: on_batch(sealed, self.tree_size),
            min_interval=self.min_interval,
            name="seal",
        )

    def stop(self) -> None:
        self.stopping.set()
