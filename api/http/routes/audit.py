"""/api/audit/events: the compliance export, streamed (admins only).

The records are projections/audit/export.py's: each carries its event's stored bytes
and leaf hash, so ``export-ledger verify-export FILE`` can check the file
against a signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.http import problems
from api.http.deps import AdminDep, ServicesDep, known_query_only
from api.http.problems import invalid_field
from api.http.schemas import MAX_INTEGER
from domain import topics
from projections.audit import export as audit
from projections.reads.sessions import streaming_session
from sql.names import ADMIN_ROLE

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[Depends(known_query_only)])

_EXAMPLE_LINE = (
    '{"position":17,"timestamp":"2026-03-03T14:00:00.000000+00:00","actor":"user-123",'
    '"type":"Downloaded","export_id":"exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C",'
    '"aggregate_id":"0b5c0a7e-4f55-5d0e-9d42-6a1f0c1d2e3f","version":4,'
    '"topic":"' + topics.export_event("Downloaded") + '","data":{"file_sha256":null},'
    '"state":"eyJ0aW1lc3RhbXAiOnt9fQ==","leaf_hash":"' + "1d" * 32 + '"}\n'
)
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The events in log order, one record per line, streamed.",
        "content": {
            audit.MEDIA_TYPES["jsonl"]: {"schema": {"type": "string"}, "example": _EXAMPLE_LINE},
            audit.MEDIA_TYPES["csv"]: {
                "schema": {"type": "string"},
                "example": ",".join(audit.COLUMNS) + "\n",
            },
        },
    }
}
Bound = Annotated[int | None, Query(ge=1, le=MAX_INTEGER)]


@router.get(
    "/events",
    response_class=StreamingResponse,
    summary="Export the stored events for an audit (admins only)",
    description="Events in log order, from position `from` to `to` (both included; "
    "positions, not times, as a checkpoint covers the log up to a position), optionally "
    "only one user's exports or one event type. Each record carries the event's leaf hash "
    "and stored state, so the file can be checked against a signed checkpoint "
    "(`export-ledger verify-export`).",
    responses={**_STREAM, **problems.responses(401, 403, 422, 503)},
)
def audit_events(
    _: AdminDep,
    services: ServicesDep,
    start: Annotated[int | None, Query(alias="from", ge=1, le=MAX_INTEGER)] = None,
    end: Annotated[int | None, Query(alias="to", ge=1, le=MAX_INTEGER)] = None,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    ] = None,
    event_type: Annotated[
        audit.EventType | None,
        Query(alias="type", description="Only events of this type."),
    ] = None,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    if start is not None and end is not None and start > end:
        raise invalid_field("query.from", f"must not exceed to ({end})")
    filters = audit.AuditFilters(start or 1, end or audit.LAST, user_id, event_type)
    conn = streaming_session(services.database, ADMIN_ROLE)
    try:
        batches = audit.stream(conn, filters)
        first = next(batches, None)  # the query runs now: its errors are still problems
    except BaseException:
        conn.close()
        raise
    return StreamingResponse(
        _body(first, batches, format, conn),
        media_type=audit.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="audit-events.{format}"'},
        background=BackgroundTask(conn.close),
    )


def _body(
    first: list[audit.Record] | None,
    batches: Iterator[list[audit.Record]],
    format: audit.Format,
    conn: Any,
) -> Iterator[bytes]:
    try:
        head = iter([first] if first is not None else [])
        yield from audit.chunks(_chain(head, batches), format)
    finally:
        batches.close()  # type: ignore[attr-defined]
        conn.close()


def _chain(
    head: Iterator[list[audit.Record]], rest: Iterator[list[audit.Record]]
) -> Iterator[list[audit.Record]]:
    yield from head
    yield from rest
