"""A slot's pgoutput messages as whole source transactions of the followed table.

Each change gets its :class:`~domain.sync.source_changes.Position`: the end LSN its
COMMIT message names and its ordinal within the transaction (the changes' own LSNs
are not in commit order across transactions). A Relation message re-checks the
columns (:func:`~domain.sync.source_changes.column_indexes`); a TRUNCATE is not followed
and only noted in the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.sync.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    MalformedMessage,
    Message,
    Relation,
    Row,
    Truncate,
    Update,
    Value,
    decode,
)
from domain.sync.source_changes import Change, Position, SourceSchemaChanged, column_indexes


@dataclass
class Transaction:
    end_lsn: int
    commit_time: datetime
    changes: list[Change] = field(default_factory=list)
    truncated: bool = False


class ChangeStream:
    """Feed it a peek's messages in order; it hands back each transaction at its COMMIT."""

    def __init__(self, schema: str, table: str) -> None:
        self.table = (schema, table)
        self._oid: int | None = None
        self._others: set[int] = set()
        self._columns: dict[str, int] = {}
        self._open: list[Message] | None = None

    def feed(self, data: bytes) -> Transaction | None:
        message = decode(data)
        if isinstance(message, Begin):
            self._open = []
            return None
        if isinstance(message, Relation):
            if (message.namespace, message.name) == self.table:
                self._columns = column_indexes(message)
                self._oid = message.oid
            else:
                self._others.add(message.oid)
            return None
        if self._open is None:
            raise MalformedMessage(f"a {type(message).__name__} message outside a transaction")
        if isinstance(message, Commit):
            changes, self._open = self._open, None
            return self._transaction(changes, message)
        self._open.append(message)
        return None

    def _transaction(self, messages: list[Message], commit: Commit) -> Transaction:
        transaction = Transaction(commit.end_lsn, commit.commit_time)
        for message in messages:
            if isinstance(message, Truncate):
                transaction.truncated = transaction.truncated or self._oid in message.oids
                continue
            if not isinstance(message, Insert | Update | Delete) or message.oid in self._others:
                continue
            if message.oid != self._oid:
                raise SourceSchemaChanged(
                    f"a change of relation {message.oid}, which the source never described: "
                    "the follow stops"
                )
            position = Position(commit.end_lsn, len(transaction.changes) + 1)
            transaction.changes.append(self._change(message, position, commit.commit_time))
        return transaction

    def _change(
        self, message: Insert | Update | Delete, position: Position, at: datetime
    ) -> Change:
        if isinstance(message, Delete):
            values = self._named(message.old)
            return Change("delete", self._id(values), values, position, at)
        values = self._named(message.new)
        if isinstance(message, Insert):
            return Change("insert", self._id(values), values, position, at)
        source_id = self._id(self._named(message.old)) if message.old is not None else None
        return Change("update", source_id or self._id(values), values, position, at)

    def _named(self, row: Row) -> dict[str, Value]:
        if len(row) <= max(self._columns.values(), default=-1):
            raise MalformedMessage("a row with fewer columns than its relation")
        return {name: row[index] for name, index in self._columns.items()}

    @staticmethod
    def _id(values: dict[str, Value]) -> str:
        source_id = values.get("id")
        if not isinstance(source_id, str):
            raise MalformedMessage("a change of the followed table without its id")
        return source_id
