"""What ``status`` (and /metrics) show of live syncs: each slot's position and lag, and
the diverged exports (read as the admin role, in the caller's transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from sql import query


@dataclass(frozen=True, slots=True)
class SyncStatus:
    slot: str
    table: str
    phase: str
    end_lsn: str
    committed_at: datetime | None
    applied_at: datetime | None
    lag_bytes: int | None
    wal_status: str | None
    changes_applied: int
    lag_seconds: float | None
    diverged: int


@dataclass(frozen=True, slots=True)
class Diverged:
    slot: str
    export_id: str
    source_id: str
    position: str
    source_status: str | None
    ledger_status: str | None
    reason: str
    recorded_at: datetime


def sync_statuses(conn: psycopg.Connection[Any]) -> list[SyncStatus]:
    rows = conn.execute(query("sync", "sync_statuses")).fetchall()
    return [
        SyncStatus(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            r[4],
            r[5],
            None if r[6] is None else int(r[6]),
            r[7],
            int(r[8]),
            None if r[9] is None else float(r[9]),
            int(r[10]),
        )
        for r in map(tuple, rows)
    ]


def diverged_exports(conn: psycopg.Connection[Any]) -> list[Diverged]:
    rows = conn.execute(query("sync", "diverged_exports")).fetchall()
    return [
        Diverged(str(r[0]), str(r[1]), str(r[2]), f"{r[3]}#{r[4]}", r[5], r[6], str(r[7]), r[8])
        for r in map(tuple, rows)
    ]


@dataclass(frozen=True, slots=True)
class SyncLag:
    slot: str
    lag_bytes: int | None
    lag_seconds: float | None


def sync_lags(conn: psycopg.Connection[Any]) -> list[SyncLag]:
    """Each slot's lag (what /metrics shows; the reader role may read it)."""
    rows = conn.execute(query("sync", "sync_lags")).fetchall()
    return [
        SyncLag(
            str(r[0]), None if r[1] is None else int(r[1]), None if r[2] is None else float(r[2])
        )
        for r in map(tuple, rows)
    ]
