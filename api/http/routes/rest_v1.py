"""/rest/v1/export_logs: the Supabase-compatible surface (PostgREST's protocol).

A Supabase app's ``createClient(LEDGER_URL, KEY)`` works unchanged: reads go through
the read table under row-level security (read-your-writes, as /api/exports reads do);
every write is a ledger command (api/http/routes/rest_writes.py). Errors are
PostgREST's ``{code, message, details, hint}``; an unknown path is JSON, never empty.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.http.deps import Services, services_of
from api.http.postgrest import errors
from api.http.postgrest.errors import PostgrestError
from api.http.postgrest.grammar import parse_query
from api.http.postgrest.request import OBJECT_MEDIA, check_profile, preferences, wants_object
from api.http.problems import Problem
from api.http.routes import rest_writes
from api.http.routes.rest_rows import (
    content_range,
    count_only,
    query_rows,
    range_status,
    rows_response,
)
from api.wiring.auth import InvalidToken, KeysUnavailable
from api.wiring.supabase_auth import SupabaseCaller, supabase_caller
from domain.exceptions import ExportLedgerError
from projections.reads.rest_query import RowQuery

router = APIRouter(prefix="/rest/v1", include_in_schema=False)
METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"]


@router.api_route("/{table}", methods=METHODS)
async def export_logs(table: str, request: Request) -> Response:
    head = request.method == "HEAD"
    try:
        if table != errors.TABLE:
            raise errors.unknown_table(table)
        check_profile(request.headers, request.method)
        caller = await authenticate(request)
        if request.method in ("GET", "HEAD"):
            return await run_in_threadpool(read, services_of(request), request, caller)
        body = await request.body()
        return await run_in_threadpool(
            rest_writes.write, services_of(request), request, caller, body
        )
    except PostgrestError as error:
        return error.response(head=head)
    except ExportLedgerError as error:  # the store, while waiting for a read's position
        return rest_writes.refusal(error).response(head=head)
    except Problem as problem:  # the read-your-writes wait: 422 or 503
        return PostgrestError(problem.status, errors.UNAVAILABLE, problem.detail).response(
            head=head
        )


@router.api_route("/{path:path}", methods=METHODS)
async def unknown_path(path: str, request: Request) -> Response:
    error = PostgrestError(
        404, "PGRST125", f"Invalid path specified in request URL: /rest/v1/{path}"
    )
    return error.response(head=request.method == "HEAD")


async def authenticate(request: Request) -> SupabaseCaller:
    """The caller of ``Authorization: Bearer`` (else the ``apikey``); a key that is no
    JWT and comes without a bearer is the anonymous role."""
    services = services_of(request)
    authorization = request.headers.get("authorization", "")
    apikey = request.headers.get("apikey")
    scheme, _, bearer = authorization.partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" and bearer.strip() else apikey
    if not token:
        raise PostgrestError(401, "PGRST302", "Anonymous access is disabled",
                             headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    if token == apikey and token.count(".") != 2:
        return SupabaseCaller(None, "anon", {})
    verifier = services.verifier
    try:
        if verifier.may_block:
            claims = await run_in_threadpool(verifier.claims, token)
        else:
            claims = verifier.claims(token)
        caller = supabase_caller(claims)
    except InvalidToken as error:
        raise PostgrestError(401, "PGRST301", str(error), headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{error}"'
        }) from None  # fmt: skip
    except KeysUnavailable:
        raise PostgrestError(
            503, errors.UNAVAILABLE, "the token signing keys cannot be fetched"
        ) from None
    if caller.principal is not None:
        request.state.user_id = caller.principal.user_id
    return caller


def read(services: Services, request: Request, caller: SupabaseCaller) -> Response:
    query = parse_query(request.query_params.multi_items(), request.headers.get("range"))
    prefer = preferences(request.headers)
    head = request.method == "HEAD"
    if head and prefer.count is not None and not wants_object(request.headers):
        return counted_head(services, caller, query)
    rows, total = query_rows(services, caller.principal, query, prefer.count is not None)
    if wants_object(request.headers):
        if len(rows) != 1:
            raise errors.not_one_row(len(rows))
        return rows_response(rows[0], 200, head=head, media=OBJECT_MEDIA)
    status = range_status(query.offset, len(rows), total)
    headers = {"Content-Range": content_range(query.offset, len(rows), total)}
    return rows_response(rows, status, head=head, headers=headers)


def counted_head(services: Services, caller: SupabaseCaller, query: RowQuery) -> Response:
    """``.select('*', {count: 'exact', head: true})``: the count, and the range a GET
    would answer, without reading a row."""
    total = count_only(services, caller.principal, query)
    room = total - query.offset
    returned = max(0, room if query.limit is None else min(room, query.limit))
    status = range_status(query.offset, returned, total)
    headers = {"Content-Range": content_range(query.offset, returned, total)}
    return rows_response(None, status, head=True, headers=headers)
