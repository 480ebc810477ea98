"""PostgREST-style row queries over ``export_logs``: the filter tree and its SQL.

The HTTP layer parses a query string into a :class:`RowQuery` (api/http/postgrest/);
this module composes it into the statements of ``sql/queries/rest_v1.sql`` with
:mod:`psycopg.sql`: every column an :class:`~psycopg.sql.Identifier` from the fixed
list of the seed's 14 columns, every value a named parameter cast to its column's type,
so no text of the request ever becomes SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from domain.sync.rows import SEED_COLUMNS
from sql import statement

Row = dict[str, Any]

COLUMN_TYPES: dict[str, str] = {
    "id": "uuid",
    "export_id": "text",
    "user_id": "text",
    "timestamp": "timestamptz",
    "format": "text",
    "config": "jsonb",
    "conversation_count": "integer",
    "file_size": "bigint",
    "status": "text",
    "file_url": "text",
    "expires_at": "timestamptz",
    "error_message": "text",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}
assert tuple(COLUMN_TYPES) == SEED_COLUMNS

COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
OPERATORS = frozenset({*COMPARISONS, "like", "ilike", "in", "is"})
IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}


@dataclass(frozen=True, slots=True)
class Condition:
    """``column operator value``, negated by ``not.``; ``in`` takes a tuple of values."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Logic:
    """``and(...)`` or ``or(...)`` of conditions and nested groups, negated by ``not.``."""

    conjunction: str
    items: tuple[Condition | Logic, ...]
    negated: bool = False


Node = Condition | Logic


@dataclass(frozen=True, slots=True)
class Ordering:
    column: str
    descending: bool = False
    nulls_first: bool | None = None
    """None: PostgreSQL's default (nulls last ascending, first descending)."""


@dataclass(frozen=True, slots=True)
class RowQuery:
    """Which rows (every top-level node must hold), in what order, which page."""

    where: tuple[Node, ...] = ()
    order: tuple[Ordering, ...] = ()
    limit: int | None = None
    offset: int = 0
    columns: tuple[str, ...] = field(default=SEED_COLUMNS)


class _Params:
    """Named parameters, numbered as the composition meets them."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, cast: str) -> sql.Composable:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return sql.SQL("{}::{}").format(sql.Placeholder(name), sql.SQL(cast))


def _column(name: str) -> sql.Identifier:
    if name not in COLUMN_TYPES:
        raise KeyError(f"not a column of export_logs: {name!r}")
    return sql.Identifier(name)


def _condition(node: Condition, params: _Params) -> sql.Composable:
    column, kind = _column(node.column), COLUMN_TYPES[node.column]
    operator, value = node.operator, node.value
    if operator == "is":
        assert isinstance(value, str)
        test: sql.Composable = sql.SQL("{} IS {}").format(column, sql.SQL(IS_VALUES[value]))
    elif operator in ("like", "ilike"):
        assert isinstance(value, str)
        pattern = params.add(value.replace("*", "%"), "text")
        verb = sql.SQL("LIKE" if operator == "like" else "ILIKE")
        test = sql.SQL("{}::text {} {}").format(column, verb, pattern)
    elif operator == "in":
        assert isinstance(value, tuple)
        test = sql.SQL("{} = ANY({})").format(column, params.add(list(value), f"{kind}[]"))
    else:
        assert isinstance(value, str)
        comparison = sql.SQL(COMPARISONS[operator])
        test = sql.SQL("{} {} {}").format(column, comparison, params.add(value, kind))
    return sql.SQL("NOT ({})").format(test) if node.negated else test


def _node(node: Node, params: _Params) -> sql.Composable:
    if isinstance(node, Condition):
        return _condition(node, params)
    joiner = " AND " if node.conjunction == "and" else " OR "
    empty = "TRUE" if node.conjunction == "and" else "FALSE"
    inner = (
        sql.SQL(joiner).join(sql.SQL("({})").format(_node(i, params)) for i in node.items)
        if node.items
        else sql.SQL(empty)
    )
    return sql.SQL("NOT ({})" if node.negated else "({})").format(inner)


def where_sql(nodes: Sequence[Node], params: _Params) -> sql.Composable:
    if not nodes:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(sql.SQL("({})").format(_node(n, params)) for n in nodes)


def order_sql(order: Sequence[Ordering]) -> sql.Composable:
    """The orderings, then ``id``: rows that tie keep one order, so pages are stable."""
    parts: list[sql.Composable] = []
    for item in order:
        nulls = "" if item.nulls_first is None else (
            " NULLS FIRST" if item.nulls_first else " NULLS LAST"
        )  # fmt: skip
        direction = " DESC" if item.descending else " ASC"
        parts.append(sql.SQL("{}" + direction + nulls).format(_column(item.column)))
    parts.append(sql.Identifier("id"))
    return sql.SQL(", ").join(parts)


def select_statement(query: RowQuery) -> tuple[sql.Composed, dict[str, Any]]:
    params = _Params()
    where = where_sql(query.where, params)
    columns = sql.SQL(", ").join(_column(c) for c in query.columns)
    composed = statement(
        "rest_v1", "select_rows", columns=columns, where=where, order=order_sql(query.order)
    )
    return composed, {**params.values, "limit": query.limit, "offset": query.offset}


def count_statement(query: RowQuery) -> tuple[sql.Composed, dict[str, Any]]:
    params = _Params()
    composed = statement("rest_v1", "count_rows", where=where_sql(query.where, params))
    return composed, params.values


def select_rows(conn: psycopg.Connection[Row], query: RowQuery) -> list[Row]:
    text, params = select_statement(query)
    return conn.execute(text, params).fetchall()


def count_rows(conn: psycopg.Connection[Row], query: RowQuery) -> int:
    text, params = count_statement(query)
    found = conn.execute(text, params).fetchone()
    return int(found["total"]) if found else 0
