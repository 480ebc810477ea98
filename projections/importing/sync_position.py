"""The live sync's state in the ledger: each slot's stored position, the map from the
source's row ids to exports, and the diverged exports (sql/migrations/0012_sync.sql).

The position is (commit end LSN, ordinal, done): the last source transaction the
ledger took in, how many of its changes, and whether that was all of them. A change
at (L, k) is already recorded when L is before the stored LSN, or L is the stored
LSN and the stored position is done or has k. :meth:`SyncState.write_batch` writes
the position compare-and-set, in the transaction it is given (the one that appends
the batch's events), so two followers of one slot can never both record a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.exceptions import ExportLedgerError
from domain.sync.pgoutput import format_lsn, parse_lsn
from domain.sync.source_changes import ChangePlan, Position
from projections.db.closable import Closable
from projections.db.database import Database
from sql import query, statement
from sql.names import WRITER_ROLE


class PositionMoved(ExportLedgerError):
    """Another follower moved the stored position: this one must stop."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A slot's stored position and phase."""

    slot: str
    table: str
    publication: str
    created_publication: bool
    phase: str
    end_lsn: int
    ordinal: int
    done: bool

    def has(self, position: Position) -> bool:
        """Whether the change at ``position`` is already recorded."""
        if position.end_lsn != self.end_lsn:
            return position.end_lsn < self.end_lsn
        return self.done or position.ordinal <= self.ordinal


@dataclass(frozen=True, slots=True)
class BatchEnd:
    """Where a batch leaves the position, and what to record beside it."""

    position: Position
    done: bool
    committed_at: datetime | None
    lag_bytes: int | None
    applied: int


class SyncState(Closable):
    """The ledger's sync tables, on a writer connection of its own (a context manager);
    :meth:`write_batch` also runs on the cursor of an append's transaction."""

    def __init__(self, db: Database, slot: str) -> None:
        self.slot = slot
        self._conn = db.connect(WRITER_ROLE, autocommit=True)

    def close(self) -> None:
        self._conn.close()

    def stored(self) -> Stored | None:
        row = self._conn.execute(query("sync", "position_of"), {"slot": self.slot}).fetchone()
        if row is None:
            return None
        slot, table, publication, created, phase, lsn, ordinal, done = _values(row)
        return Stored(
            str(slot), str(table), str(publication), bool(created), str(phase),
            parse_lsn(str(lsn)), int(ordinal), bool(done),
        )  # fmt: skip

    def begin_import(self, table: str, publication: str, created: bool, lsn: int) -> None:
        params = {
            "slot": self.slot, "table": table, "publication": publication,
            "created": created, "lsn": format_lsn(lsn),
        }  # fmt: skip
        with self._conn.transaction():
            self._forget_map_and_divergence(self._conn.cursor())
            self._conn.execute(query("sync", "begin_import"), params)

    def map_source_ids(self, pairs: Iterable[tuple[str, str]], batch: int = 10_000) -> None:
        chunk: list[tuple[str, str]] = []
        for pair in pairs:
            chunk.append(pair)
            if len(chunk) >= batch:
                self._map(chunk)
                chunk = []
        if chunk:
            self._map(chunk)

    def start_following(self) -> None:
        self._conn.execute(query("sync", "start_following"), {"slot": self.slot})

    def exports_of(self, source_ids: Sequence[str]) -> dict[str, str]:
        rows = self._conn.execute(
            query("sync", "exports_of_source_ids"),
            {"slot": self.slot, "source_ids": list(set(source_ids))},
        ).fetchall()
        return {str(s): str(e) for s, e in _rows(rows)}

    def latest_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The latest stored version of each export of ``ids`` that exists."""
        rows = self._conn.execute(statement("sync", "latest_versions"), {"ids": list(ids)})
        return {UUID(str(i)): int(v) for i, v in _rows(rows.fetchall())}

    def record_lag(self, lag_bytes: int | None, wal_status: str | None) -> None:
        params = {"slot": self.slot, "lag_bytes": lag_bytes, "wal_status": wal_status}
        self._conn.execute(query("sync", "record_lag"), params)

    def write_batch_alone(self, was: Stored, end: BatchEnd, plan: ChangePlan) -> Stored:
        """:meth:`write_batch` in a transaction of its own (a batch with no events)."""
        with self._conn.transaction(), self._conn.cursor() as cursor:
            return self.write_batch(cursor, was, end, plan)

    def write_batch(
        self, cursor: psycopg.Cursor[Any], was: Stored, end: BatchEnd, plan: ChangePlan
    ) -> Stored:
        """The batch's map entries, divergences and position, on ``cursor`` (in the
        transaction of the batch's events); PositionMoved when ``was`` is not stored."""
        slot = self.slot
        if plan.mapped:
            cursor.execute(
                query("sync", "map_source_ids"),
                {
                    "slot": slot,
                    "source_ids": list(plan.mapped),
                    "export_ids": list(plan.mapped.values()),
                },
            )
        if plan.unmapped:
            params = {"slot": slot, "source_ids": list(plan.unmapped)}
            cursor.execute(query("sync", "unmap_source_ids"), params)
        if plan.mended:
            params = {"slot": slot, "export_ids": list(plan.mended)}
            cursor.execute(query("sync", "clear_diverged"), params)
        for export_id, refusal in plan.diverged.items():
            export = plan.exports.get(export_id)
            status = refusal.change.values.get("status")
            cursor.execute(query("sync", "mark_diverged"), {
                "slot": slot, "export_id": export_id, "source_id": refusal.change.source_id,
                "lsn": format_lsn(refusal.change.position.end_lsn),
                "ordinal": refusal.change.position.ordinal,
                "source_status": status if isinstance(status, str) else refusal.change.kind,
                "ledger_status": str(export.status) if export is not None else None,
                "reason": refusal.reason,
            })  # fmt: skip
        cursor.execute(query("sync", "move_position"), {
            "slot": slot, "lsn": format_lsn(end.position.end_lsn),
            "ordinal": end.position.ordinal, "done": end.done,
            "committed_at": end.committed_at, "lag_bytes": end.lag_bytes,
            "applied": end.applied, "was_lsn": format_lsn(was.end_lsn),
            "was_ordinal": was.ordinal, "was_done": was.done,
        })  # fmt: skip
        if cursor.rowcount != 1:
            raise PositionMoved(
                f"another follower moved the stored position of slot {slot}: this one stops"
            )
        return Stored(
            was.slot, was.table, was.publication, was.created_publication, was.phase,
            end.position.end_lsn, end.position.ordinal, end.done,
        )  # fmt: skip

    def forget(self) -> None:
        with self._conn.transaction(), self._conn.cursor() as cursor:
            self._forget_map_and_divergence(cursor)
            cursor.execute(query("sync", "forget_slot_positions"), {"slot": self.slot})

    def _forget_map_and_divergence(self, cursor: psycopg.Cursor[Any]) -> None:
        cursor.execute(query("sync", "forget_slot_ids"), {"slot": self.slot})
        cursor.execute(query("sync", "forget_slot_diverged"), {"slot": self.slot})

    def _map(self, chunk: list[tuple[str, str]]) -> None:
        params = {
            "slot": self.slot,
            "source_ids": [s for s, _ in chunk],
            "export_ids": [e for _, e in chunk],
        }
        self._conn.execute(query("sync", "map_source_ids"), params)


def _values(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _rows(rows: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
    return (_values(row) for row in rows)
