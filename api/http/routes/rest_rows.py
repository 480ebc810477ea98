"""What the /rest/v1 routes share: rows the caller may see, and how rows are answered."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from fastapi import Request, Response

from api.http.deps import ReadAfter, Services, wait_for_read
from api.http.postgrest import errors
from api.http.postgrest.errors import PostgrestError
from api.http.postgrest.request import OBJECT_MEDIA, Preferences, wants_object
from projections.reads.read_store import Principal
from projections.reads.rest_query import Condition, RowQuery, count_rows, select_rows

Row = dict[str, Any]


def single_export(query: RowQuery) -> str | None:
    """The export a query names by ``export_id=eq.X``, whose own latest event is all
    a read-your-writes wait for it needs."""
    for node in query.where:
        if isinstance(node, Condition) and node.column == "export_id" and node.operator == "eq":
            if not node.negated and isinstance(node.value, str):
                return node.value
    return None


def wait_for_writes(services: Services, query: RowQuery, principal: Principal) -> None:
    """Read-your-writes: every command acknowledged before this request began."""
    wait_for_read(services, services.reads, ReadAfter(), single_export(query), principal)


def query_rows(
    services: Services, principal: Principal | None, query: RowQuery, count: bool
) -> tuple[list[Row], int | None]:
    """The rows (and, with ``count``, how many match in all) the caller may see."""
    if principal is None:
        return [], 0 if count else None
    wait_for_writes(services, query, principal)
    try:
        with services.reads.session(principal) as conn:
            rows = select_rows(conn, query)
            total = count_rows(conn, query) if count else None
    except psycopg.Error as error:
        raise database_error(error) from None
    return rows, total


def count_only(services: Services, principal: Principal | None, query: RowQuery) -> int:
    """How many rows the caller may see match (a HEAD's count: no row is read)."""
    if principal is None:
        return 0
    wait_for_writes(services, query, principal)
    try:
        with services.reads.session(principal) as conn:
            return count_rows(conn, query)
    except psycopg.Error as error:
        raise database_error(error) from None


def database_error(error: psycopg.Error) -> PostgrestError:
    """A query the database refused: a value of the wrong type is the request's fault."""
    if isinstance(error, psycopg.OperationalError | psycopg.errors.QueryCanceled):
        return PostgrestError(503, errors.UNAVAILABLE, "the database is unavailable; retry shortly")
    code = error.sqlstate or "22000"
    message = (error.diag.message_primary or str(error)).splitlines()[0]
    return PostgrestError(400, code, message, error.diag.message_detail, error.diag.message_hint)


def range_status(offset: int, returned: int, total: int | None) -> int:
    """PostgREST's: 416 past the end, 206 for part of a counted set, else 200."""
    if total is None:
        return 200
    if offset > total:
        raise errors.range_past_end(offset, total)
    return 206 if returned < total else 200


def content_range(offset: int, returned: int, total: int | None) -> str:
    count = "*" if total is None else str(total)
    if returned == 0:
        return f"*/{count}"
    return f"{offset}-{offset + returned - 1}/{count}"


def rows_response(
    content: Row | list[Row] | None,
    status: int,
    *,
    head: bool = False,
    media: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    body = b"" if head or content is None else orjson.dumps(content)
    return Response(body, status, headers=headers, media_type=f"{media}; charset=utf-8")


def body_for(rows: list[Row], request: Request, prefer: Preferences, created: bool) -> Response:
    """A write's answer: its rows (with return=representation), else none."""
    status_ok = 201 if created else 200
    if wants_object(request.headers):
        if len(rows) != 1:
            raise errors.not_one_row(len(rows))
        if prefer.returning == "representation":
            return rows_response(rows[0], status_ok, media=OBJECT_MEDIA)
    if prefer.returning == "representation":
        return rows_response(rows, status_ok)
    headers = {"Content-Range": content_range(0, len(rows), len(rows) if prefer.count else None)}
    if created and prefer.returning == "headers-only" and len(rows) == 1 and "id" in rows[0]:
        headers["Location"] = f"/export_logs?id=eq.{rows[0]['id']}"
    return Response(status_code=201 if created else 204, headers=headers)
