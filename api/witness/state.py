"""The witness's state: the latest cosigned checkpoint of each log, in a SQLite file.

Checking a request's old size against the stored one and storing the new checkpoint
happen in one ``BEGIN IMMEDIATE`` transaction (SQLite lets one such writer in at a time),
so of two requests built on the same old size exactly one moves the state, and a
witness killed at any moment leaves the old row or the new one (SQLite's rollback
journal, ``synchronous=FULL``), never a mix. Every cosigned checkpoint is also kept in
``history``, so that an auditor can find the first tree size at which a rewritten log
stops matching what it cosigned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domain.tlog.merkle import EMPTY_ROOT

SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note BLOB NOT NULL,
    cosignature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    note BLOB NOT NULL,
    PRIMARY KEY (origin, size)
)
"""


@dataclass(frozen=True, slots=True)
class Latest:
    """What the witness last cosigned for a log (size 0: nothing yet)."""

    size: int
    root: bytes
    note: bytes = b""
    cosignature: str = ""


# Given the stored latest, either refuse (a reason) or return what to store.
Decision = Callable[[Latest], "Latest | Refusal"]


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def latest(self, origin: str) -> Latest:
        conn = self._connect()
        try:
            return _read(conn, origin)
        finally:
            conn.close()

    def compare_and_swap(self, origin: str, decide: Decision) -> Latest | Refusal:
        """Run ``decide`` on the stored latest and store what it returns, atomically."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            decided = decide(_read(conn, origin))
            if isinstance(decided, Refusal):
                conn.execute("ROLLBACK")
                return decided
            conn.execute(
                "INSERT INTO witnessed (origin, size, root, note, cosignature) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                "size = excluded.size, root = excluded.root, note = excluded.note, "
                "cosignature = excluded.cosignature",
                (origin, decided.size, decided.root, decided.note, decided.cosignature),
            )
            conn.execute(
                "INSERT OR IGNORE INTO history (origin, size, note) VALUES (?, ?, ?)",
                (origin, decided.size, decided.note + decided.cosignature.encode()),
            )
            conn.execute("COMMIT")
            return decided
        finally:
            conn.close()


    def history(self, origin: str, limit: int = 10_000) -> list[bytes]:
        """Every checkpoint cosigned for a log, smallest first (the latest ``limit``)."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT note FROM (SELECT size, note FROM history WHERE origin = ? "
                "ORDER BY size DESC LIMIT ?) ORDER BY size",
                (origin, limit),
            ).fetchall()
            return [bytes(r[0]) for r in rows]
        finally:
            conn.close()


def _read(conn: sqlite3.Connection, origin: str) -> Latest:
    row = conn.execute(
        "SELECT size, root, note, cosignature FROM witnessed WHERE origin = ?", (origin,)
    ).fetchone()
    if row is None:
        return Latest(0, EMPTY_ROOT)
    return Latest(int(row[0]), bytes(row[1]), bytes(row[2]), str(row[3]))
