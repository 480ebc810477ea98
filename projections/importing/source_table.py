"""Another system's export table (the seed's ``export_logs``), read as source rows.

The table is named by the user, so it is only ever an identifier (``table`` or
``schema.table``, exact names, no quoting needed). Its rows are read through a
server-side cursor in one read-only REPEATABLE READ transaction: the count the
progress bar shows and the rows read come from the same snapshot, and rows the
old service writes meanwhile wait for the next run.

Several readers can share that snapshot (:meth:`SourceTable.export_snapshot`, then
``SourceTable(..., snapshot=..., part=(k, n))``), each reading the rows of its own
part: the rows whose export_id hashes to ``k`` modulo ``n``. Together they read
every row once, and all the rows of one export are read by the same reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from domain.exceptions import ConfigurationError, StoreUnavailable
from domain.sync.rows import SEED_COLUMNS, SourceRow
from projections.db.closable import Closable
from sql import statement

_TIME_COLUMNS = ("timestamp", "expires_at", "created_at", "updated_at")


def table_identifier(name: str) -> sql.Identifier:
    """``table`` or ``schema.table`` as an identifier; ConfigurationError otherwise."""
    parts = name.split(".")
    if len(parts) > 2 or not all(part.strip() for part in parts):
        raise ConfigurationError(f"not a table name: {name!r} (give table or schema.table)")
    return sql.Identifier(*parts)


def one_line(error: BaseException) -> str:
    """A driver's message (often several lines) on one line."""
    return " ".join(str(error).split())


class SourceTable(Closable):
    """A context manager: the source table opened, checked, and read in batches."""

    def __init__(
        self, url: str, table: str, *, snapshot: str | None = None, part: tuple[int, int] = (0, 1)
    ) -> None:
        self.name = table
        self.table = table_identifier(table)
        self.url = url
        self.snapshot = snapshot
        self.part = part
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> None:
        self._conn = _connect(self.url)
        try:
            with self._reading():
                if self.snapshot is not None:  # the transaction's first statement
                    share = sql.Literal(self.snapshot)
                    self._conn.execute(statement("imports", "share_snapshot", snapshot=share))
                self._check_columns(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        assert self._conn is not None, "use SourceTable as a context manager"
        return self._conn

    def count(self) -> int:
        with self._reading():
            row = self.conn.execute(_statement("count_rows", self.table)).fetchone()
        return int(row[0]) if row else 0

    def export_snapshot(self) -> str | None:
        """The id of this reader's snapshot, for other readers to share while it is
        open; None when the server will not export it. Then this reader reads on in
        a new snapshot (the refusal ended its transaction; a savepoint cannot help:
        no snapshot is exported from a subtransaction)."""
        try:
            row = self.conn.execute(statement("imports", "export_snapshot")).fetchone()
        except psycopg.Error:
            self.conn.rollback()
            return None
        return str(row[0]) if row else None

    def batches(self, size: int) -> Iterator[list[SourceRow]]:
        """Every row of this reader's part, ``size`` at a time, through a server-side cursor."""
        index, parts = self.part
        query, params = _statement("source_rows", self.table), {}
        if parts > 1:
            query, params = _statement("source_part_rows", self.table), {"k": index, "n": parts}
        with self._reading(), self.conn.cursor(name="export_ledger_import") as cursor:
            cursor.itersize = size
            cursor.execute(query, params)
            while rows := cursor.fetchmany(size):
                yield [SourceRow(*row) for row in rows]

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"cannot read {self.name}: {one_line(error)}") from None
        except psycopg.Error as error:
            raise ConfigurationError(f"cannot read {self.name}: {one_line(error)}") from None

    def _check_columns(self, conn: psycopg.Connection[Any]) -> None:
        regclass = self.table.as_string(conn)
        found = conn.execute(statement("imports", "table_exists"), {"table": regclass}).fetchone()
        if not found or not found[0]:
            raise ConfigurationError(f"the source database has no table {self.name}")
        rows = conn.execute(statement("imports", "source_columns"), {"table": regclass}).fetchall()
        types = {str(name): str(kind) for name, kind in rows}
        missing = [c for c in SEED_COLUMNS if c not in types]
        if missing:
            raise ConfigurationError(
                f"the source table {self.name} lacks the seed's columns: {', '.join(missing)}"
            )
        for column in _TIME_COLUMNS:
            if types[column] != "timestamp with time zone":
                raise ConfigurationError(
                    f"the source table {self.name}'s column {column} is {types[column]}, not "
                    "timestamp with time zone: its times would be ambiguous"
                )


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, connect_timeout=10, options="-c TimeZone=UTC")
    except psycopg.ProgrammingError as error:
        raise ConfigurationError(f"bad source database URL: {one_line(error)}") from None
    except psycopg.Error as error:
        raise StoreUnavailable(f"cannot reach the source database: {one_line(error)}") from None
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _statement(name: str, table: sql.Identifier) -> sql.Composed:
    return statement("imports", name, table=table)
