"""Writes of /rest/v1/export_logs, each a ledger command (domain/ledger/rows.py).

POST requests exports; PATCH moves the matching rows' exports (a status move, an
expiry-only change, the file or error a move records); DELETE deletes them (admins:
a user matches no rows, as the seed's table had no delete policy). A write of many
rows is one append: all of them or none, as PostgREST's one transaction. Which rows
a PATCH or DELETE matches is read under row-level security first, so a row the caller
may not see is answered exactly as a missing one, before any rule is checked.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from api.http.deps import Services
from api.http.postgrest import errors
from api.http.postgrest.errors import PostgrestError
from api.http.postgrest.grammar import parse_query
from api.http.postgrest.request import (
    json_body,
    new_row,
    patch_row,
    preferences,
    row_values,
    wants_object,
)
from api.http.routes.rest_rows import Row, body_for, query_rows
from api.wiring.supabase_auth import SupabaseCaller
from domain.exceptions import (
    ConcurrentModification,
    ExportLedgerError,
    ExportNotFound,
    ExportOnHold,
    IllegalTransition,
    InvalidExport,
    StoreUnavailable,
    SubjectErased,
)
from domain.exports.ids import aggregate_id
from domain.exports.views import ExportState
from domain.ledger.rows import OutcomeRecorded, change_export, new_export
from projections.reads.read_store import Principal
from projections.reads.rest_query import COLUMN_TYPES, RowQuery


def write(services: Services, request: Request, caller: SupabaseCaller, raw: bytes) -> Response:
    try:
        if request.method == "POST":
            return insert(services, request, caller, json_body(raw))
        if request.method == "PATCH":
            return update(services, request, caller, json_body(raw))
        return delete(services, request, caller)
    except ExportLedgerError as error:
        raise refusal(error) from None


def insert(services: Services, request: Request, caller: SupabaseCaller, body: Any) -> Response:
    principal = caller.principal
    many = isinstance(body, list)
    rows = [new_row(item) for item in (body if many else [body])]
    if principal is None:
        raise errors.row_security(anonymous=True)
    for row in rows:
        if row.user_id != principal.user_id and not principal.admin:
            raise errors.row_security(anonymous=False)
    exports = [
        new_export(
            export_id=row.export_id,
            user_id=row.user_id,
            format=row.format,
            config=row.config,
            conversation_count=row.conversation_count,
            requested_at=row.requested_at,
            values=row.values,
            actor=principal.user_id,
        )
        for row in rows
    ]
    if len({e.export_id for e in exports}) < len(exports):
        raise duplicate_key(exports[0].export_id)
    try:
        states = services.ledger.record(*exports)
    except ConcurrentModification as error:
        taken = [e.export_id for e in exports if services.ledger.last_position(e.export_id)]
        raise duplicate_key(taken[0] if taken else error.export_id) from None
    return answer([row_of(s) for s in states], request, created=True)


def update(services: Services, request: Request, caller: SupabaseCaller, body: Any) -> Response:
    changes = patch_row(body)
    values = row_values(changes)
    query = parse_query(request.query_params.multi_items())
    matched = matching(services, caller.principal, query, request)
    if not matched:
        return answer([], request, created=False)
    principal = caller.principal
    assert principal is not None
    if "user_id" in changes:
        for row in matched:
            if changes["user_id"] != row["user_id"]:
                raise _owner_change(principal)
    ledger = services.ledger
    exports = [_load(services, row["export_id"], principal) for row in matched]
    for export in exports:
        change_export(export, values, principal.user_id)
    states = ledger.record(*exports)
    return answer([row_of(s) for s in states], request, created=False)


def delete(services: Services, request: Request, caller: SupabaseCaller) -> Response:
    query = parse_query(request.query_params.multi_items())
    principal = caller.principal
    if principal is None or not principal.admin:
        return answer([], request, created=False)  # no delete policy: no row matches
    matched = matching(services, principal, query, request)
    exports = [_load(services, row["export_id"], principal) for row in matched]
    for export in exports:
        export.delete(principal.user_id, None)
    services.ledger.record(*exports)
    return answer(matched, request, created=False)


def matching(
    services: Services, principal: Principal | None, query: RowQuery, request: Request
) -> list[Row]:
    """Every column of the rows a write's filter matches, as the caller sees them;
    with object Accept, exactly one (else 406, nothing changed)."""
    everything = RowQuery(where=query.where, order=query.order)
    rows, _ = query_rows(services, principal, everything, count=False)
    if wants_object(request.headers) and len(rows) != 1:
        raise errors.not_one_row(len(rows))
    return rows


def _load(services: Services, export_id: str, principal: Principal) -> Any:
    try:
        return services.ledger.load_for_change(export_id, principal)
    except ExportNotFound:  # deleted since the read table showed it
        raise PostgrestError(
            409, errors.CHANGED_MEANWHILE, f"export {export_id!r} was deleted meanwhile; retry"
        ) from None


def _owner_change(principal: Principal) -> PostgrestError:
    if principal.admin:
        return PostgrestError(
            400, errors.IMMUTABLE_COLUMN, "column user_id cannot change: an export keeps its owner"
        )
    return errors.row_security(anonymous=False)


def answer(rows: list[Row], request: Request, *, created: bool) -> Response:
    """The rows a write touched, in the columns ``select=`` names (all by default)."""
    select = request.query_params.get("select")
    columns = parse_query([("select", select)]).columns if select else tuple(COLUMN_TYPES)
    picked = [{c: row[c] for c in columns} for row in rows]
    return body_for(picked, request, preferences(request.headers), created)


def row_of(state: ExportState) -> Row:
    """The export's row in export_logs, as the projection will fold it."""
    return {
        "id": aggregate_id(state.export_id),
        "export_id": state.export_id,
        "user_id": state.user_id,
        "timestamp": state.requested_at or state.created_at,
        "format": state.format,
        "config": state.config,
        "conversation_count": state.conversation_count,
        "file_size": state.file_size,
        "status": state.status,
        "file_url": state.file_url,
        "expires_at": state.expires_at,
        "error_message": state.error_message,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }


def duplicate_key(export_id: str) -> PostgrestError:
    return PostgrestError(
        409, "23505",
        'duplicate key value violates unique constraint "export_logs_export_id_key"',
        f"Key (export_id)=({export_id}) already exists.",
    )  # fmt: skip


def refusal(error: ExportLedgerError) -> PostgrestError:
    """A command the ledger refused, as a PostgREST error; nothing was recorded."""
    if isinstance(error, OutcomeRecorded):
        return PostgrestError(409, errors.NOT_AT_STATUS, str(error))
    if isinstance(error, IllegalTransition):
        return PostgrestError(409, errors.REFUSED_MOVE, str(error),
                              hint="the ledger's lifecycle: queued -> processing -> completed "
                              "-> expired, processing -> failed -> queued")  # fmt: skip
    if isinstance(error, ExportOnHold):
        return PostgrestError(409, errors.ON_HOLD, str(error), f"hold {error.hold_id}")
    if isinstance(error, ConcurrentModification):
        return PostgrestError(409, errors.CHANGED_MEANWHILE, str(error))
    if isinstance(error, InvalidExport | SubjectErased):
        return errors.check_violation(str(error))
    if isinstance(error, StoreUnavailable):
        return PostgrestError(503, errors.UNAVAILABLE, "the database is unavailable; retry shortly")
    return PostgrestError(400, "P0001", str(error))
