"""PostgREST's query grammar, parsed into a :class:`~projections.reads.rest_query.RowQuery`.

Filters (``column=[not.]op.value``; ``op`` one of eq neq gt gte lt lte like ilike in is),
logic trees (``or=(...)``, ``and=(...)``, ``not.or=(...)``, nested ``and(...)``/``or(...)``
inside), ``select=`` column lists, ``order=`` with ``.asc/.desc/.nullsfirst/.nullslast``,
``limit``, ``offset`` and the ``Range`` header. Pure text in, a tree out: no web, no SQL.
Unknown columns are refused here (42703), unparsable text with PGRST100.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from api.http.postgrest.errors import parse_error, unknown_column
from projections.reads.rest_query import (
    COLUMN_TYPES,
    IS_VALUES,
    OPERATORS,
    Condition,
    Logic,
    Node,
    Ordering,
    RowQuery,
)

RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
LOGIC_KEYS = {"or": ("or", False), "and": ("and", False),
              "not.or": ("or", True), "not.and": ("and", True)}  # fmt: skip
_RANGE = re.compile(r"^\s*(?:items=)?(\d+)-(\d*)\s*$")
_MAX_ITEMS = 1000


def column(name: str) -> str:
    name = name.strip()
    if name not in COLUMN_TYPES:
        raise unknown_column(name)
    return name


def parse_filter(name: str, text: str) -> Condition:
    """``column=[not.]op.value``, as a query parameter or inside a logic tree."""
    negated = text.startswith("not.")
    if negated:
        text = text[4:]
    operator, dot, value = text.partition(".")
    if not dot or operator not in OPERATORS:
        raise parse_error(
            f'"failed to parse filter ({text})" (line 1, column 1)',
            f"unexpected operator {operator!r}: expecting eq, neq, gt, gte, lt, lte, like, "
            "ilike, in or is",
        )
    target = column(name)
    if operator == "in":
        return Condition(target, "in", _list(value), negated)
    if operator == "is":
        if value.lower() not in IS_VALUES:
            raise parse_error(
                f"failed to parse filter (is.{value})",
                "is takes null, true, false or unknown",
            )
        return Condition(target, "is", value.lower(), negated)
    return Condition(target, operator, _unquoted(value), negated)


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _list(text: str) -> tuple[str, ...]:
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f"failed to parse filter (in.{text})", "in takes a list: in.(a,b)")
    inner = text[1:-1]
    if not inner.strip():
        return ()
    items = [_unquoted(item.strip()) for item in split_top_level(inner)]
    if len(items) > _MAX_ITEMS:
        raise parse_error(f"in takes at most {_MAX_ITEMS} values")
    return tuple(items)


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses and double quotes."""
    parts, depth, quoted, start, index = [], 0, False, 0, 0
    while index < len(text):
        char = text[index]
        if quoted and char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise parse_error(f"failed to parse logic tree ({text})", "unbalanced ')'")
        elif not quoted and depth == 0 and char == ",":
            parts.append(text[start:index])
            start = index + 1
        index += 1
    if quoted or depth:
        raise parse_error(f"failed to parse logic tree ({text})", "unbalanced quote or '('")
    parts.append(text[start:])
    return parts


def parse_logic(conjunction: str, negated: bool, text: str, depth: int = 0) -> Logic:
    """The value of ``or=``/``and=``: ``(item,item,...)``."""
    if depth > 10:
        raise parse_error("logic trees nest at most 10 levels")
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f"failed to parse logic tree ({text})", "a logic tree is (item,item,...)")
    items = [_logic_item(item.strip(), depth) for item in split_top_level(text[1:-1])]
    return Logic(conjunction, tuple(items), negated)


def _logic_item(text: str, depth: int) -> Node:
    negated = text.startswith("not.")
    body = text[4:] if negated else text
    for conjunction in ("and", "or"):
        if body.startswith(conjunction + "("):
            return parse_logic(conjunction, negated, body[len(conjunction) :], depth + 1)
    name, dot, rest = text.partition(".")
    if not dot:
        raise parse_error(f"failed to parse logic tree ({text})", "expected column.op.value")
    return parse_filter(name, rest)


def parse_select(text: str) -> tuple[str, ...]:
    names = [part.strip() for part in split_top_level(text)]
    if not names or "" in names:
        raise parse_error(f'"failed to parse select parameter ({text})"')
    picked: list[str] = []
    for name in names:
        for each in COLUMN_TYPES if name == "*" else (column(name),):
            if each not in picked:
                picked.append(each)
    return tuple(picked)


def parse_order(text: str) -> tuple[Ordering, ...]:
    found = []
    for term in text.split(","):
        name, *modifiers = term.strip().split(".")
        ordering = Ordering(column(name))
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                ordering = replace(ordering, descending=modifier == "desc")
            elif modifier in ("nullsfirst", "nullslast"):
                ordering = replace(ordering, nulls_first=modifier == "nullsfirst")
            else:
                raise parse_error(
                    f'"failed to parse order ({text})"',
                    f"unexpected {modifier!r}: expecting asc, desc, nullsfirst or nullslast",
                )
        found.append(ordering)
    return tuple(found)


def _count(name: str, text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise parse_error(f'"failed to parse {name} parameter ({text})"')
    return int(text)


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """``Range: 0-9`` as (offset, limit); a malformed range is ignored, as PostgREST does."""
    match = _RANGE.match(header or "")
    if match is None:
        return None
    start = int(match[1])
    if not match[2]:
        return start, None
    end = int(match[2])
    return (start, end - start + 1) if end >= start else None


def parse_query(pairs: Iterable[tuple[str, str]], range_header: str | None = None) -> RowQuery:
    """The whole query string (repeated keys all apply) and the Range header."""
    where: list[Node] = []
    query = RowQuery()
    limit: int | None = None
    offset: int | None = None
    for key, value in pairs:
        if key == "select":
            query = replace(query, columns=parse_select(value))
        elif key == "order":
            query = replace(query, order=parse_order(value))
        elif key == "limit":
            limit = _count("limit", value)
        elif key == "offset":
            offset = _count("offset", value)
        elif key in LOGIC_KEYS:
            where.append(parse_logic(*LOGIC_KEYS[key], value))
        elif key not in RESERVED:
            where.append(parse_filter(key, value))
    ranged = parse_range(range_header)
    if ranged is not None:
        start, length = ranged
        offset = start if offset is None else offset
        limit = length if limit is None else (limit if length is None else min(limit, length))
    return replace(query, where=tuple(where), limit=limit, offset=offset or 0)
