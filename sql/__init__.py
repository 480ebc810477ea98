"""The project's SQL, kept in plain ``.sql`` files and loaded once by name.

``migrations/NNNN_*.sql`` are applied in order by ``export-ledger migrate``;
each is idempotent. ``queries/<module>.sql`` hold the named queries, as
procrastinate keeps its own: a ``-- name:`` line, comment lines that say what
the query does, then the query::

    -- name: tracking_position
    -- The log position a table includes (no row: the table is not tracked).
    SELECT position FROM read_model_tracking WHERE table_name = %(table)s;

Values are always named parameters (``%(table)s``), given to ``execute``.
Identifiers are ``{name}`` placeholders that :func:`statement` fills in with
:class:`psycopg.sql.Identifier`; ``{events}`` is the stored-events table
(:data:`sql.names.EVENTS_TABLE`) unless the caller names another. Names that
the SQL and the Python both know are in :mod:`sql.names`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from psycopg import sql

from sql.names import EVENTS_TABLE

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_DESCRIPTION = re.compile(r"\A(?:[ \t]*--[^\n]*\n)+")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    description: str
    """What the query does: the comment lines under its ``-- name:`` line."""
    text: str
    """The SQL, with its ``{identifier}`` placeholders and ``%(value)s`` parameters."""


@cache
def migration_scripts() -> tuple[tuple[str, str], ...]:
    """(file name, SQL text) of every migration, in order."""
    folder = files(__name__) / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return tuple((name, (folder / name).read_text(encoding="utf-8")) for name in names)


@cache
def modules() -> tuple[str, ...]:
    """The names of the query files, ``queries/<module>.sql``."""
    folder = files(__name__) / "queries"
    return tuple(sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".sql")))


@cache
def queries(module: str) -> dict[str, Query]:
    """The named queries of ``queries/<module>.sql``."""
    text = (files(__name__) / "queries" / f"{module}.sql").read_text(encoding="utf-8")
    return parse_queries(text, f"{module}.sql")


def parse_queries(text: str, source: str = "<text>") -> dict[str, Query]:
    """The named queries of a query file's text (anything before the first
    ``-- name:`` line is the file's own comment)."""
    parts = _HEADER.split(text)
    found: dict[str, Query] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"query {name!r} defined twice in {source}")
        comment = _DESCRIPTION.match(body.lstrip("\n"))
        lines = comment.group().splitlines() if comment else []
        description = " ".join(line.strip().removeprefix("--").strip() for line in lines)
        query_text = body.lstrip("\n")[comment.end() if comment else 0 :]
        found[name] = Query(name, description, query_text.strip().rstrip(";"))
    return found


def query(module: str, name: str) -> str:
    """The text of a named query, placeholders and all (for a caller that
    builds on it, such as an EXPLAIN; others take :func:`statement`)."""
    try:
        return queries(module)[name].text
    except KeyError:
        raise KeyError(f"no query {name!r} in sql/queries/{module}.sql") from None


def statement(module: str, name: str, **identifiers: str | sql.Composable) -> sql.Composed:
    """A named query with its ``{placeholders}`` filled in: a string as an
    identifier (:class:`psycopg.sql.Identifier`), anything composable as it is
    (a schema-qualified identifier, or a :class:`psycopg.sql.Literal` where a
    utility statement takes no parameter)."""
    if all(isinstance(v, str) for v in identifiers.values()):
        return _by_names(module, name, tuple(sorted(identifiers.items())))
    return _compose(module, name, identifiers)


@lru_cache(maxsize=1024)
def _by_names(module: str, name: str, identifiers: tuple[tuple[str, str], ...]) -> sql.Composed:
    """Statements with identifiers given by name, composed once: reads run
    the same few statements many times a second."""
    return _compose(module, name, dict(identifiers))


def _compose(
    module: str, name: str, identifiers: Mapping[str, str | sql.Composable]
) -> sql.Composed:
    names = {"events": EVENTS_TABLE, **identifiers}
    filled = {k: sql.Identifier(v) if isinstance(v, str) else v for k, v in names.items()}
    return sql.SQL(query(module, name)).format(**filled)
