"""PostgREST's query grammar, as text: what each form parses to, and what is refused."""

from __future__ import annotations

import pytest

from api.http.postgrest.errors import PostgrestError
from api.http.postgrest.grammar import parse_query, parse_range, split_top_level
from domain.sync.rows import SEED_COLUMNS
from projections.reads.rest_query import Condition, Logic, Ordering, RowQuery


def test_what_supabase_js_sends_for_a_list() -> None:
    query = parse_query(
        [
            ("select", "*"),
            ("user_id", "eq.u-1"),
            ("order", "timestamp.desc"),
            ("offset", "20"),
            ("limit", "10"),
            ("timestamp", "gte.2025-10-01T00:00:00+00:00"),
            ("timestamp", "lte.2025-10-31T00:00:00Z"),
        ]
    )
    assert query == RowQuery(
        where=(
            Condition("user_id", "eq", "u-1"),
            Condition("timestamp", "gte", "2025-10-01T00:00:00+00:00"),
            Condition("timestamp", "lte", "2025-10-31T00:00:00Z"),
        ),
        order=(Ordering("timestamp", descending=True),),
        limit=10,
        offset=20,
        columns=SEED_COLUMNS,
    )


def test_negation_lists_and_is() -> None:
    (a, b, c) = parse_query(
        [("id", 'in.(a,"b,c",d)'), ("file_url", "not.is.null"), ("status", "not.in.()")]
    ).where
    assert a == Condition("id", "in", ("a", "b,c", "d"))
    assert b == Condition("file_url", "is", "null", negated=True)
    assert c == Condition("status", "in", (), negated=True)


def test_logic_trees_nest_and_quote() -> None:
    (tree,) = parse_query(
        [("not.or", '(status.eq.failed,and(format.eq.csv,error_message.like."a,(b)*"))')]
    ).where
    assert tree == Logic(
        "or",
        (
            Condition("status", "eq", "failed"),
            Logic(
                "and",
                (Condition("format", "eq", "csv"), Condition("error_message", "like", "a,(b)*")),
            ),
        ),
        negated=True,
    )


def test_select_and_order_modifiers() -> None:
    query = parse_query(
        [("select", "id, created_at,id"), ("order", "expires_at.desc.nullslast,id")]
    )
    assert query.columns == ("id", "created_at")
    assert query.order == (Ordering("expires_at", True, False), Ordering("id"))


def test_the_range_header_and_the_query_parameters() -> None:
    assert parse_range("0-9") == (0, 10)
    assert parse_range("items=5-") == (5, None)
    assert parse_range("9-0") is None and parse_range("bytes") is None
    assert parse_query([], "10-19") == RowQuery(limit=10, offset=10)
    assert parse_query([("limit", "3")], "10-19") == RowQuery(limit=3, offset=10)


@pytest.mark.parametrize(
    ("pairs", "code"),
    [
        ([("status", "equals.x")], "PGRST100"),
        ([("status", "queued")], "PGRST100"),
        ([("or", "(status.eq.x")], "PGRST100"),
        ([("and", "status.eq.x")], "PGRST100"),
        ([("id", "in.a")], "PGRST100"),
        ([("limit", "-1")], "PGRST100"),
        ([("order", "id.up")], "PGRST100"),
        ([("select", "")], "PGRST100"),
        ([("colour", "eq.red")], "42703"),
        ([("select", "id,colour")], "42703"),
        ([("order", "colour")], "42703"),
        ([("or", "(colour.eq.red)")], "42703"),
    ],
)
def test_refusals(pairs: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(PostgrestError) as refused:
        parse_query(pairs)
    assert refused.value.code == code
    assert refused.value.status == 400


def test_commas_inside_quotes_and_parentheses_do_not_split() -> None:
    assert split_top_level('a,"b,c",d(e,f),"g\\",h"') == ["a", '"b,c"', "d(e,f)", '"g\\",h"']
