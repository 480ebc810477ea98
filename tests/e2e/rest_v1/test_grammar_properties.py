"""The filter grammar by property: random filters (every operator, ``not.``, nested
``or``/``and``), orders and ranges, sent as supabase-js sends them, give exactly the rows
and count of the same query run straight on the read table (rendered here, by the test,
from the same tree, with literals)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row

from projections.reads.rest_query import COLUMN_TYPES, Condition, Logic, Node, Ordering
from tests.e2e.rest_v1.support import TABLE, new_row, service_headers

USERS = [str(uuid.uuid4()) for _ in range(3)]
COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
BASE = datetime(2025, 10, 1, tzinfo=UTC)


def seed_rows() -> list[dict[str, Any]]:
    """Thirty rows of every status, some with files and errors, some sharing timestamps."""
    chooser = random.Random(7)
    rows = []
    for n in range(30):
        status = ["queued", "processing", "completed", "failed", "expired"][n % 5]
        row = new_row(
            USERS[n % 3],
            format=["json", "jsonl", "csv", "markdown"][n % 4],
            config={"scope": chooser.choice(["all", "filtered"]), "n": n % 4},
            conversation_count=chooser.randint(0, 50),
            status=status,
            timestamp=(BASE + timedelta(hours=n // 2)).isoformat(),
        )
        if status in ("completed", "expired") and n % 2:
            row |= {"file_size": chooser.randint(0, 9999), "file_url": f"https://f.example/{n}",
                    "expires_at": (BASE + timedelta(days=n)).isoformat()}  # fmt: skip
        if status == "failed" and n % 2:
            row["error_message"] = f"disk {n} full"
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def table(module_client: TestClient, module_database_url: str) -> Iterator[list[dict[str, Any]]]:
    created = module_client.post(TABLE, json=seed_rows(), headers=service_headers())
    assert created.status_code == 201, created.text
    # A read through the surface waits for the projection: the table holds them all now.
    assert len(module_client.get(TABLE, headers=service_headers()).json()) == 30
    with psycopg.connect(module_database_url, row_factory=dict_row) as conn:
        yield conn.execute("SELECT * FROM export_logs").fetchall()


def text_of(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@st.composite
def conditions(draw: st.DrawFn, rows: list[dict[str, Any]]) -> Condition:
    column = draw(st.sampled_from(list(COLUMN_TYPES)))
    seen = [text_of(r[column]) for r in rows if r[column] is not None] or ["x"]
    operator = draw(st.sampled_from([*COMPARISONS, "like", "ilike", "in", "is"]))
    negated = draw(st.booleans())
    if operator == "is":
        return Condition(column, "is", "null", negated)
    if operator == "in":
        values = tuple(draw(st.lists(st.sampled_from(seen), max_size=3)))
        return Condition(column, "in", values, negated)
    value = draw(st.sampled_from(seen))
    if operator in ("like", "ilike"):
        cut = draw(st.integers(0, len(value)))
        value = draw(st.sampled_from([value[:cut] + "*", "*" + value[cut:], value.upper()]))
    return Condition(column, operator, value, negated)


def nodes(rows: list[dict[str, Any]]) -> st.SearchStrategy[Node]:
    return st.recursive(
        conditions(rows),
        lambda inner: st.builds(
            Logic,
            st.sampled_from(["and", "or"]),
            st.lists(inner, min_size=1, max_size=3).map(tuple),
            st.booleans(),
        ),
        max_leaves=5,
    )


orderings = st.lists(
    st.builds(
        Ordering,
        st.sampled_from(list(COLUMN_TYPES)),
        st.booleans(),
        st.sampled_from([None, True, False]),
    ),
    max_size=2,
)


# -- the query string, as postgrest-js writes it -------------------------------------------


def quoted(value: str) -> str:
    if any(c in value for c in ',()"\\') or value != value.strip() or not value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def operand(node: Condition, inside: bool) -> str:
    if node.operator == "in":
        assert isinstance(node.value, tuple)
        value = "(" + ",".join(quoted(v) for v in node.value) + ")"
    else:
        assert isinstance(node.value, str)
        value = quoted(node.value) if inside else node.value
    return ("not." if node.negated else "") + f"{node.operator}.{value}"


def item(node: Node) -> str:
    if isinstance(node, Condition):
        return f"{node.column}.{operand(node, inside=True)}"
    inner = ",".join(item(i) for i in node.items)
    return ("not." if node.negated else "") + f"{node.conjunction}({inner})"


def parameter(node: Node) -> tuple[str, str]:
    if isinstance(node, Condition):
        return node.column, operand(node, inside=False)
    key = ("not." if node.negated else "") + node.conjunction
    return key, "(" + ",".join(item(i) for i in node.items) + ")"


def order_text(order: list[Ordering]) -> str:
    def one(o: Ordering) -> str:
        nulls = "" if o.nulls_first is None else (".nullsfirst" if o.nulls_first else ".nullslast")
        return o.column + (".desc" if o.descending else ".asc") + nulls

    return ",".join(one(o) for o in order)


# -- the same query, straight on the table ------------------------------------------------


def rendered(node: Node) -> sql.Composable:
    if isinstance(node, Logic):
        joiner = sql.SQL(" AND " if node.conjunction == "and" else " OR ")
        inner = joiner.join(sql.SQL("({})").format(rendered(i)) for i in node.items)
        return sql.SQL("NOT ({})" if node.negated else "({})").format(inner)
    column, kind = sql.Identifier(node.column), sql.SQL(COLUMN_TYPES[node.column])
    if node.operator == "is":
        test: sql.Composable = sql.SQL("{} IS NULL").format(column)
    elif node.operator in ("like", "ilike"):
        assert isinstance(node.value, str)
        verb = sql.SQL(node.operator.upper())
        test = sql.SQL("{}::text {} {}").format(
            column, verb, sql.Literal(node.value.replace("*", "%"))
        )
    elif node.operator == "in":
        values = sql.SQL(", ").join(sql.Literal(v) for v in node.value)
        test = sql.SQL("{} = ANY(ARRAY[{}]::{}[])").format(column, values, kind)
    else:
        test = sql.SQL("{} {} {}::{}").format(column, sql.SQL(COMPARISONS[node.operator]),
                                              sql.Literal(node.value), kind)  # fmt: skip
    return sql.SQL("NOT ({})").format(test) if node.negated else test


def expected(
    url: str, where: list[Node], order: list[Ordering], limit: int | None, offset: int
) -> tuple[list[str], int]:
    condition = sql.SQL(" AND ").join(rendered(n) for n in where) if where else sql.SQL("TRUE")
    terms = [
        sql.SQL("{} {} {}").format(
            sql.Identifier(o.column),
            sql.SQL("DESC" if o.descending else "ASC"),
            sql.SQL(
                "" if o.nulls_first is None else "NULLS FIRST" if o.nulls_first else "NULLS LAST"
            ),
        )
        for o in order
    ]
    ordering = sql.SQL(", ").join([*terms, sql.Identifier("id")])
    page = sql.SQL("SELECT id::text FROM export_logs WHERE {} ORDER BY {} LIMIT {} OFFSET {}")
    count = sql.SQL("SELECT count(*) FROM export_logs WHERE {}")
    with psycopg.connect(url) as conn:
        ids = conn.execute(page.format(condition, ordering, sql.Literal(limit), offset)).fetchall()
        total = conn.execute(count.format(condition)).fetchone()
    assert total is not None
    return [i for (i,) in ids], int(total[0])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_filters_orders_and_ranges_match_the_table(
    data: st.DataObject,
    module_client: TestClient,
    module_database_url: str,
    table: list[dict[str, Any]],
) -> None:
    where = data.draw(st.lists(nodes(table), max_size=3))
    order = data.draw(orderings)
    limit = data.draw(st.none() | st.integers(0, 12))
    offset = data.draw(st.integers(0, 35))
    params = [parameter(n) for n in where] + [("select", "id"), ("offset", str(offset))]
    if order:
        params.append(("order", order_text(order)))
    if limit is not None:
        params.append(("limit", str(limit)))
    response = module_client.get(
        TABLE, params=params, headers=service_headers(Prefer="count=exact")
    )
    ids, total = expected(module_database_url, where, order, limit, offset)
    if offset > total:
        assert response.status_code == 416, response.text
        return
    assert response.status_code in (200, 206), (params, response.text)
    assert [r["id"] for r in response.json()] == ids, params
    assert response.headers["content-range"].endswith(f"/{total}")
