"""/api/exports: request, read, list, update, delete and expire exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.http import problems
from api.http.deps import (
    AdminDep,
    LedgerDep,
    PrincipalDep,
    ReadAfterDep,
    ReadsDep,
    ServicesDep,
    known_query_only,
    wait_for_read,
)
from api.http.ownership import not_found, owned
from api.http.problems import Problem, invalid_field
from api.http.routes.common import (
    POSITION_HEADERS,
    ExportIdPath,
    command_response,
    detail,
    mark_position,
)
from api.http.routes.lifecycle import run_update
from api.http.schemas import (
    NO_NUL,
    ExpireResult,
    ExportDetail,
    ExportList,
    ExportPublic,
    Moment,
    PageNumber,
    PageSize,
    ReadStatus,
    Version,
)
from api.http.schemas_commands import (
    ExportCreate,
    ExportUpdate,
)
from domain.exports.ids import is_export_id
from domain.exports.values import ExportFormat
from projections.readmodel.due import ReadModelDueExports
from projections.reads.read_store import ListFilters, decode_cursor, encode_cursor

router = APIRouter(
    prefix="/api/exports", tags=["exports"], dependencies=[Depends(known_query_only)]
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Makes retries safe: the same key and body return the same export; "
        "the same key with another body is a 409 problem.",
        examples=["7f6c1c9e-3c1b-4c33-9a55-2f1f8f1f4b6e"],
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=ExportDetail,
    summary="Request an export",
    responses={
        201: {
            "description": "The export, queued.",
            "headers": {
                "Location": {
                    "description": "Where to read the export.",
                    "schema": {"type": "string"},
                    "example": "/api/exports/exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C",
                },
                **POSITION_HEADERS,
            },
        },
        **problems.responses(400, 401, 403, 409, 413, 422, 503),
    },
)
def create_export(
    body: ExportCreate,
    principal: PrincipalDep,
    ledger: LedgerDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    owner = body.user_id or principal.user_id
    if owner != principal.user_id and not principal.admin:
        raise Problem(
            403,
            f"user_id {owner!r} is not the caller ({principal.user_id!r}): only admins "
            "may request an export for another user",
        )
    state = ledger.request_export(
        user_id=owner,
        format=body.format.value,
        config=body.config,
        conversation_count=body.conversation_count,
        actor=principal.user_id,
        idempotency_key=idempotency_key,
        status=body.status,
    )
    response = command_response(ledger, state, 201)
    response.headers["Location"] = request.app.url_path_for("get_export", export_id=state.export_id)
    return response


@router.get(
    "",
    response_model=ExportList,
    summary="List exports, newest first",
    responses=problems.responses(401, 403, 422, 503),
)
def list_exports(
    principal: PrincipalDep,
    reads: ReadsDep,
    services: ServicesDep,
    after: ReadAfterDep,
    status: Annotated[ReadStatus | None, Query(description="Only this status.")] = None,
    format: Annotated[ExportFormat | None, Query(description="Only this format.")] = None,
    date_from: Annotated[Moment | None, Query(description="Requested at or after.")] = None,
    date_to: Annotated[Moment | None, Query(description="Requested at or before.")] = None,
    user_id: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=NO_NUL, description="Admins only."),
    ] = None,
    page: Annotated[PageNumber, Query(description="Offset paging (from 1).")] = 1,
    limit: Annotated[PageSize, Query(description="Exports per page.")] = 25,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="next_cursor of the previous page."),
    ] = None,
    as_of: Annotated[
        Moment | None,
        Query(
            description="List the exports as they stood at this moment (RFC 3339): each "
            "export's state after its last event at or before it, as GET "
            "/api/exports/{export_id}?as_of gives it; exports deleted since are listed, "
            "exports requested later are not. A moment in the future lists the current state."
        ),
    ] = None,
    on_hold: Annotated[
        bool | None,
        Query(description="Only exports with (true) or without (false) an open legal hold."),
    ] = None,
) -> Response:
    if on_hold is not None and as_of is not None:
        raise invalid_field("query.on_hold", "on_hold lists the exports now: not with as_of")
    if user_id is not None and not principal.admin:
        raise Problem(403, "only admins may filter by user_id")
    if cursor is not None and page != 1:
        raise invalid_field("query.page", "give page or cursor, not both")
    try:
        start = decode_cursor(cursor) if cursor is not None else None
    except ValueError as error:
        raise invalid_field("query.cursor", str(error)) from None
    filters = ListFilters(
        user_id, status, format, date_from, date_to, limit, page, start, as_of, on_hold
    )
    wait_for_read(services, reads, after, caller=principal)
    found = reads.page(principal, filters)
    rows = found.rows
    more = len(rows) > limit
    listed = ExportList.model_validate(
        {
            "logs": rows[:limit],
            "total": found.total,
            "total_exact": found.total_exact,
            "page": page,
            "limit": limit,
            "next_cursor": encode_cursor(rows[limit - 1]) if more else None,
        }
    )
    # Validated above: sent as is, not validated and serialised a second time by FastAPI.
    return Response(listed.model_dump_json(), media_type="application/json")


@router.post(
    "/expire",
    response_model=ExpireResult,
    summary="Expire every completed export whose expires_at has passed (admins)",
    responses={
        200: {"description": "How many were expired.", "headers": POSITION_HEADERS},
        **problems.responses(401, 403, 422, 503),
    },
)
def expire_exports(
    admin: AdminDep, services: ServicesDep, after: ReadAfterDep, response: Response
) -> ExpireResult:
    wait_for_read(services, services.reads, after)  # the due ones come from the read table
    run = services.ledger.expire_due_run(ReadModelDueExports(services.database))
    mark_position(response, services.ledger, None)
    return ExpireResult(expired=run.expired, on_hold=run.on_hold)


@router.get(
    "/{export_id}",
    response_model=ExportPublic | ExportDetail,
    summary="Read an export, now or at a past moment",
    responses=problems.responses(401, 404, 422, 503),
)
def get_export(
    export_id: ExportIdPath,
    principal: PrincipalDep,
    reads: ReadsDep,
    services: ServicesDep,
    after: ReadAfterDep,
    as_of: Annotated[
        Moment | None, Query(description="The export as it stood at this moment (RFC 3339).")
    ] = None,
    version: Annotated[Version | None, Query(description="The export after this event.")] = None,
) -> ExportPublic | ExportDetail:
    if as_of is not None or version is not None:
        if as_of is not None and version is not None:
            raise invalid_field("query.version", "give as_of or version, not both")
        owned(services.ledger, principal, export_id, include_deleted=True)
        return detail(services.ledger.state_as_of(export_id, at=as_of, version=version))
    if not is_export_id(export_id):
        raise not_found(export_id)
    wait_for_read(services, reads, after, export_id)
    row = reads.get(principal, export_id)
    if row is None:
        raise not_found(export_id)
    return ExportPublic.model_validate(row)


@router.patch(
    "/{export_id}",
    response_model=ExportDetail,
    summary="Move an export through its lifecycle",
    description="The target status picks the command: processing starts processing, "
    "completed completes (file_size and file_url required), failed fails "
    "(error_message required), queued retries a failed export, expired expires it. "
    "Without a status, expires_at alone changes a completed export's expiry.",
    responses={
        200: {"description": "The export after the command.", "headers": POSITION_HEADERS},
        **problems.responses(400, 401, 404, 409, 413, 422, 503),
    },
)
def update_export(
    export_id: ExportIdPath,
    body: ExportUpdate,
    principal: PrincipalDep,
    ledger: LedgerDep,
) -> Response:
    if not is_export_id(export_id):
        raise not_found(export_id)
    return command_response(ledger, run_update(ledger, export_id, body, principal))


@router.delete(
    "/{export_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an export (admins); its history stays",
    responses={
        204: {"description": "Deleted.", "headers": POSITION_HEADERS},
        **problems.responses(401, 403, 404, 409, 422, 503),
    },
)
def delete_export(
    export_id: ExportIdPath,
    admin: AdminDep,
    ledger: LedgerDep,
    reason: Annotated[
        str | None,
        Query(max_length=500, pattern=NO_NUL, description="Why, for the audit trail."),
    ] = None,
) -> Response:
    if not is_export_id(export_id):
        raise not_found(export_id)
    state = ledger.delete(export_id, actor=admin.user_id, reason=reason, caller=admin)
    response = Response(status_code=204)
    mark_position(response, ledger, state)
    return response
