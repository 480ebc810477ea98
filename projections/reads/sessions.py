"""Database sessions of the ledger and audit routes, each under the least role it needs.

The checkpoint routes read only the seal tables, which ``export_ledger_reader``
may read. Proofs and the audit export carry stored events, which only
``export_ledger_admin`` (of the read-only roles) may read: those routes check
the caller's rights first (ownership from the events, or the admin claim), then
read as admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from projections.db.database import Database
from projections.reads.read_store import ReadStore
from sql import statement

Connection = psycopg.Connection[Any]
STATEMENT_TIMEOUT_MS = "10000"


def _take_on(conn: Connection, role: str, timeout_ms: str) -> None:
    conn.execute(statement("api", "set_role", role=role))
    conn.execute(statement("api", "set_session"), {"user_id": "", "timeout": timeout_ms})


@contextmanager
def pooled_session(reads: ReadStore, role: str) -> Iterator[Connection]:
    """A transaction on a pooled read connection as ``role``, rows as tuples
    (the proof code indexes rows; the pool's default is dicts)."""
    with reads.pools[role].connection() as conn:
        conn.row_factory = tuple_row  # type: ignore[assignment]
        try:
            with conn.transaction():
                _take_on(conn, role, STATEMENT_TIMEOUT_MS)
                yield conn
        finally:
            conn.row_factory = dict_row


def streaming_session(db: Database, role: str) -> Connection:
    """A connection of its own, in an open transaction as ``role`` without a
    statement timeout, for a long server-side cursor; the caller closes it."""
    conn = db.connect(role, options="-c TimeZone=UTC")
    try:
        _take_on(conn, role, "0")
    except BaseException:
        conn.close()
        raise
    return conn
