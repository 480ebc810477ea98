"""The SQL registry (sql/): every named query parses, says what it does, takes named
parameters and is used by the code; every name in sql.names is in the migrations.

No database: queries are parsed with pglast, PostgreSQL's own parser as a library.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pglast
import pytest
from psycopg import sql as psql

import sql
from projections.readmodel.fold import COLUMNS, VERSION_COLUMNS
from sql import names

ROOT = Path(__file__).resolve().parents[2]
CODE = ("domain", "projections", "api", "sql")
PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
PARAMETER = re.compile(r"%\((\w+)\)s")
LITERALS = {"snapshot": "00000003-0000001B-1", "timeout": "10s"}
"""Placeholders filled with a literal: utility statements that take no parameter."""

QUERIES = [(module, name) for module in sql.modules() for name in sql.queries(module)]


def parsable(module: str, name: str) -> tuple[str, list[str]]:
    """The query as PostgreSQL would get it, with ``$n`` for its parameters, and
    the parameters' names in the order of their numbers."""
    text = sql.query(module, name)
    filled: dict[str, Any] = {
        key: psql.Literal(LITERALS[key]) if key in LITERALS else key
        for key in PLACEHOLDER.findall(text)
    }
    composed = sql.statement(module, name, **filled).as_string(None)
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return PARAMETER.sub(number, composed), order


@pytest.mark.parametrize(("module", "name"), QUERIES)
def test_every_query_parses_and_says_what_it_does(module: str, name: str) -> None:
    query = sql.queries(module)[name]
    assert query.description, f"{module}.sql: {name} needs a comment under its header"
    text, _ = parsable(module, name)
    # Only named parameters; and no literal %, which would have to be %% in a
    # query given parameters but % in one given none.
    assert "%" not in text, f"{module}.sql: {name}: a % that is not a %(name)s parameter"
    if query.description.startswith("On a replication connection"):
        return  # a replication command: walsender grammar, not SQL
    statements = pglast.parse_sql(text)
    assert len(statements) == 1, f"{module}.sql: {name} holds {len(statements)} statements"


def test_every_query_is_used_by_the_code_and_every_use_is_a_query() -> None:
    used, called = _uses()
    defined = set(QUERIES)
    assert defined - used == set(), "named queries that no code runs"
    assert called - defined == set(), "code runs queries that do not exist"


def test_every_name_the_sql_and_python_share_is_in_the_migrations() -> None:
    migrations = "\n".join(text for _, text in sql.migration_scripts())
    shared = {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert shared
    missing = {k: v for k, v in shared.items() if not re.search(rf"\b{v}\b", migrations)}
    assert missing == {}


def test_bulk_writes_name_the_fold_columns_in_order() -> None:
    for name, columns in (("upsert_rows", COLUMNS), ("insert_versions", VERSION_COLUMNS)):
        text, parameters = parsable("read_model", name)
        insert = pglast.parse_sql(text)[0].stmt
        targets = [target.name for target in insert.cols]
        unnest = insert.selectStmt.fromClause[0].functions[0][0]
        arrays = [parameters[arg.arg.number - 1] for arg in unnest.args]
        assert targets == arrays == list(columns), name
    for name, columns in (("copy_rows", COLUMNS), ("copy_versions", VERSION_COLUMNS)):
        copy = pglast.parse_sql(parsable("read_model", name)[0])[0].stmt
        assert [column.sval for column in copy.attlist] == list(columns), name


def test_the_loader_takes_the_comment_under_a_header_as_the_description() -> None:
    found = sql.parse_queries(
        "-- the file's own comment\n\n"
        "-- name: one\n-- What it does,\n-- in two lines.\nSELECT 1;\n\n"
        "-- name: two\nSELECT {t} -- no description\n"
    )
    assert found["one"].description == "What it does, in two lines."
    assert found["one"].text == "SELECT 1"
    assert found["two"].description == ""
    with pytest.raises(ValueError, match="twice"):
        sql.parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def _uses() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(the queries the code may run, the queries it names literally), from the calls
    of sql.statement and sql.query: a module or a name passed in a variable may be
    any of the file's string constants."""
    modules = set(sql.modules())
    used: set[tuple[str, str]] = set()
    called: set[tuple[str, str]] = set()
    for path in (p for folder in CODE for p in (ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        strings = {s for s in strings if isinstance(s, str)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            func = call.func
            callee = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if callee not in ("statement", "query") or len(call.args) < 2:
                continue
            module, name = (_constant(arg) for arg in call.args[:2])
            if module is not None and name is not None:
                called.add((module, name))
            for m in {module} if module is not None else strings & modules:
                used |= {(m, n) for n in ({name} if name is not None else strings)}
    return used, called


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
