"""The source side of a live sync: pre-checks, the publication, the slot, peek and advance.

Everything is plain SQL over a normal connection (``TimeZone=UTC``, ``DateStyle=ISO``,
so pgoutput's text values parse one way) but for the slot's creation, which is a
replication command: ``CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')`` on a
``replication="database"`` connection returns the slot's consistent point and a
snapshot of exactly the commits before it, valid while that connection stays idle.
The changes are read with ``pg_logical_slot_peek_binary_changes`` (never the
consuming form) and the slot moves only by ``pg_replication_slot_advance``, once the
ledger has committed what it read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from domain.exceptions import ConfigurationError, ExportLedgerError, StoreUnavailable
from domain.sync.pgoutput import format_lsn, parse_lsn
from projections.importing.source_table import one_line, table_identifier
from sql import query, statement

_SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")
_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO"


class SyncRefused(ExportLedgerError):
    """A pre-check failed, or the slot cannot go on: one line says what to do."""


def default_slot(table: str) -> str:
    return ("export_ledger_" + re.sub(r"[^a-z0-9_]", "_", table.lower()))[:63]


def check_slot_name(name: str) -> str:
    if not _SLOT_NAME.match(name):
        raise ConfigurationError(
            f"not a slot name: {name!r} (1 to 63 of lower-case letters, digits and _)"
        )
    return name


@dataclass(frozen=True, slots=True)
class SlotState:
    confirmed: int
    wal_status: str | None
    safe_wal_size: int | None
    active: bool


@dataclass(frozen=True, slots=True)
class TableInfo:
    schema: str
    name: str
    owned: bool


class LogicalSource:
    """A plain connection to the source database (a context manager)."""

    def __init__(self, url: str, table: str, slot: str) -> None:
        self.url, self.table, self.slot = url, table, slot
        self.identifier = table_identifier(table)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10, options=_OPTIONS)
        except psycopg.ProgrammingError as error:
            raise ConfigurationError(f"bad source database URL: {one_line(error)}") from None
        except psycopg.Error as error:
            raise StoreUnavailable(f"cannot reach the source database: {one_line(error)}") from None

    def __enter__(self) -> LogicalSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.close()

    # -- pre-checks ---------------------------------------------------------------

    def check_can_follow(self, *, new_slot: bool) -> TableInfo:
        """Each pre-check in turn; SyncRefused with one line at the first that fails."""
        level = self._one("wal_level")
        if level != "logical":
            raise SyncRefused(
                f"the source's wal_level is {level}: live sync needs wal_level = logical "
                "(set it in postgresql.conf and restart the source)"
            )
        if not self._one("may_replicate"):
            raise SyncRefused(
                f"the source login {self.conn.info.user} may not replicate: it needs the "
                "REPLICATION attribute (ALTER ROLE ... REPLICATION; on RDS, rds_replication)"
            )
        if new_slot:
            row = self._row("free_slots")
            if row[0] <= 0 or row[1] <= 0:
                raise SyncRefused(
                    f"the source has no free replication slot or WAL sender ({row[0]} slots, "
                    f"{row[1]} senders free): raise max_replication_slots / max_wal_senders"
                )
        return self._check_table()

    def _check_table(self) -> TableInfo:
        regclass = self.identifier.as_string(self.conn)
        found = self.conn.execute(query("logical", "table_identity"), {"table": regclass})
        row = found.fetchone()
        if row is None:
            raise SyncRefused(f"the source database has no table {self.table}")
        schema, name, identity, owned, id_in_key = row
        if identity == "n" or (identity in ("d", "i") and not id_in_key):
            raise SyncRefused(
                f"the source table {self.table} has no primary key (or replica identity) on id: "
                "a delete could not be followed (ALTER TABLE ... REPLICA IDENTITY FULL)"
            )
        return TableInfo(str(schema), str(name), bool(owned))

    def check_publication(self, publication: str, info: TableInfo) -> bool:
        """Whether ``publication`` exists; SyncRefused when it exists but does not
        publish the table's inserts, updates and deletes."""
        params = {"publication": publication, "schema": info.schema, "name": info.name}
        row = self.conn.execute(query("logical", "publication_of"), params).fetchone()
        if row is None:
            return False
        if not all(row):
            raise SyncRefused(
                f"the publication {publication} does not publish the inserts, updates and "
                f"deletes of {self.table}"
            )
        return True

    def create_publication(self, publication: str, info: TableInfo) -> None:
        if not info.owned:
            raise SyncRefused(
                f"the source login does not own {self.table}, so it cannot publish it: have "
                "the owner CREATE PUBLICATION ... FOR TABLE ... and give --publication NAME"
            )
        pub = sql.Identifier(publication)
        self._run(
            statement("logical", "create_publication", publication=pub, table=self.identifier)
        )

    def drop_publication(self, publication: str) -> None:
        pub = sql.Identifier(publication)
        self._run(statement("logical", "drop_publication", publication=pub))

    # -- the slot -------------------------------------------------------------------

    def slot_state(self) -> SlotState | None:
        row = self.conn.execute(query("logical", "slot_state"), {"slot": self.slot}).fetchone()
        if row is None:
            return None
        lsn, wal_status, safe, active, plugin = row
        if plugin != "pgoutput":
            raise SyncRefused(f"the source's slot {self.slot} is not a pgoutput logical slot")
        confirmed = parse_lsn(str(lsn)) if lsn is not None else 0
        return SlotState(confirmed, wal_status, int(safe) if safe is not None else None, active)

    def drop_slot(self) -> None:
        state = self.slot_state()
        if state is None:
            return
        if state.active:
            raise SyncRefused(f"the slot {self.slot} is in use: stop its follower first")
        self._run(query("logical", "drop_slot"), {"slot": self.slot})

    def flush_lsn(self) -> int:
        return parse_lsn(str(self._one("flush_lsn")))

    def peek(self, publication: str, upto: int, count: int) -> list[tuple[int, bytes]]:
        params = {
            "slot": self.slot, "upto": format_lsn(upto), "count": count,
            "publications": sql.Identifier(publication).as_string(self.conn),
        }  # fmt: skip
        try:
            with self.conn.cursor(binary=False) as cursor:
                cursor.execute(query("logical", "peek_changes"), params)
                return [(parse_lsn(str(lsn)), bytes(data)) for lsn, data in cursor]
        except psycopg.errors.UndefinedObject as error:
            raise SyncRefused(
                f"the publication {publication} was dropped ({one_line(error)}): the slot "
                "cannot go on; run import --drop-slot, then import --follow to import again"
            ) from None
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"cannot read the slot {self.slot}: {one_line(error)}") from None
        except psycopg.Error as error:
            raise SyncRefused(f"cannot read the slot {self.slot}: {one_line(error)}") from None

    def advance(self, lsn: int) -> None:
        self._run(query("logical", "advance_slot"), {"slot": self.slot, "lsn": format_lsn(lsn)})

    def source_ids(self, conn: psycopg.Connection[Any]) -> Iterator[tuple[str, str]]:
        """Every row's (id, export_id), on ``conn`` (a reader in the import's snapshot)."""
        with conn.cursor(name="export_ledger_source_ids") as cursor:
            cursor.itersize = 10_000
            cursor.execute(statement("logical", "source_ids", table=self.identifier))
            for source_id, export_id in cursor:
                yield str(source_id), str(export_id)

    # -- helpers --------------------------------------------------------------------

    def _one(self, name: str) -> Any:
        return self._row(name)[0]

    def _row(self, name: str) -> tuple[Any, ...]:
        row = self.conn.execute(query("logical", name)).fetchone()
        assert row is not None
        return tuple(row)

    def _run(self, command: Any, params: dict[str, Any] | None = None) -> None:
        try:
            self.conn.execute(command, params)
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"the source database: {one_line(error)}") from None
        except psycopg.Error as error:
            raise SyncRefused(f"the source database refused: {one_line(error)}") from None


@dataclass
class NewSlot:
    """A slot just made: its consistent point, and the snapshot of the commits before it,
    valid while :attr:`conn` (a replication connection) stays open and idle."""

    conn: psycopg.Connection[Any]
    consistent_point: int
    snapshot: str

    def close(self) -> None:
        self.conn.close()


def create_slot(url: str, slot: str) -> NewSlot:
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, replication="database")
    except psycopg.Error as error:
        raise SyncRefused(
            f"the source refuses a replication connection ({one_line(error)}): allow it in "
            "pg_hba.conf (a pooler in between cannot pass it)"
        ) from None
    try:
        row = conn.execute(
            statement("logical", "create_slot", slot=sql.Identifier(slot))
        ).fetchone()
    except psycopg.Error as error:
        conn.close()
        raise SyncRefused(f"cannot create the slot {slot}: {one_line(error)}") from None
    assert row is not None
    return NewSlot(conn, parse_lsn(str(row[1])), str(row[2]))
