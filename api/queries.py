"""Reads of the API: the export_logs read table, under row-level security.

Every read runs in its own transaction on a pooled connection that first
takes on ``export_ledger_reader`` (or ``export_ledger_admin``) and sets
``export_ledger.user_id``, so a user can only ever see their own rows, even
if a query here forgot a filter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.auth import Principal
from api.database import ADMIN_ROLE, READER_ROLE
from sql import query

Row = dict[str, Any]
_STATEMENT_TIMEOUT_MS = "10000"


@dataclass(frozen=True, slots=True)
class ListFilters:
    user_id: str | None = None
    status: str | None = None
    format: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    limit: int = 25
    page: int = 1
    cursor: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    position: int
    migrated: bool


class ReadStore:
    """A pool of reader connections; reconnects by itself after an outage."""

    def __init__(self, url: str, *, size: int = 4, timeout: float = 5.0) -> None:
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            connection_class=psycopg.Connection[Row],
            min_size=1,
            max_size=size,
            timeout=timeout,
            open=False,
            name="export-ledger-reads",
            kwargs={
                "options": "-c TimeZone=UTC",
                "prepare_threshold": None,
                "row_factory": dict_row,
            },
        )
        self._size = size

    def open(self) -> ReadStore:
        self.pool.open(wait=False)
        return self

    def close(self) -> None:
        self.pool.close(timeout=2)

    def get(self, principal: Principal, export_id: str) -> Row | None:
        with self._session(principal) as conn:
            return conn.execute(query("api", "get_export"), (export_id,)).fetchone()

    def page(self, principal: Principal, filters: ListFilters) -> tuple[list[Row], int]:
        """Up to ``limit`` + 1 rows (the extra one tells there is a next page), and the total."""
        params = _list_params(principal, filters)
        with self._session(principal) as conn:
            rows = conn.execute(query("api", "list_exports"), params).fetchall()
            counted = conn.execute(query("api", "count_exports"), params).fetchone()
        return rows, int(counted["total"]) if counted else 0

    def readiness(self) -> Readiness:
        with self._session(Principal(user_id="", admin=False)) as conn:
            row = conn.execute(query("api", "readiness")).fetchone()
        assert row is not None
        return Readiness(position=int(row["position"] or 0), migrated=bool(row["migrated"]))

    def session(self, principal: Principal) -> AbstractContextManager[psycopg.Connection[Row]]:
        """A transaction under the principal's role and user id, for reads kept elsewhere
        (the console's and the metrics' named queries)."""
        return self._session(principal)

    @contextmanager
    def _session(self, principal: Principal) -> Iterator[psycopg.Connection[Row]]:
        role = ADMIN_ROLE if principal.admin else READER_ROLE
        with self._live_connection() as conn, conn.transaction():
            conn.execute(sql.SQL(query("api", "set_role")).format(role=sql.Identifier(role)))
            conn.execute(query("api", "set_session"), (principal.user_id, _STATEMENT_TIMEOUT_MS))
            yield conn

    @contextmanager
    def _live_connection(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection that answers. Dead ones (after a database restart) are
        handed back, and so dropped by the pool, at once: the pool's own check would
        back off for seconds after each dead connection it meets."""
        for _ in range(self._size):
            with self.pool.connection() as conn:
                if _answers(conn):
                    yield conn
                    return
        with self.pool.connection() as conn:
            yield conn


def _answers(conn: psycopg.Connection[Row]) -> bool:
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.OperationalError:
        return False
    return True


def _list_params(principal: Principal, filters: ListFilters) -> dict[str, Any]:
    after_ts, after_id = filters.cursor or (None, None)
    return {
        # Users are filtered to their own rows twice: here, and by the row policy.
        "user_id": filters.user_id if principal.admin else principal.user_id,
        "status": filters.status,
        "format": filters.format,
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "after_ts": after_ts,
        "after_id": after_id,
        "limit": filters.limit + 1,
        "offset": 0 if filters.cursor else (filters.page - 1) * filters.limit,
    }


def encode_cursor(row: Row) -> str:
    """Opaque keyset cursor: the row's timestamp and export_id."""
    text = f"{row['timestamp'].isoformat()}|{row['export_id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, export_id = raw.split("|", 1)
        when = datetime.fromisoformat(moment)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor from this API") from None
    if when.tzinfo is None or not export_id or "\x00" in export_id:
        raise ValueError("not a cursor from this API")
    return when, export_id
