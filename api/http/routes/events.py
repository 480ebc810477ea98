"""/api/events: the ledger's events as CloudEvents, one JSON line each, a page at a time.

For admins and auditors. A page starts after the cursor ``after`` (0: the start) and
its ``Link: <...>; rel="next"`` header gives the next cursor, also when it is empty:
follow it to read the log exactly once, in position order (projections/streams/feed.py).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from api.http import problems
from api.http.deps import PrincipalDep, ReadsDep, ServicesDep, known_query_only
from api.http.problems import Problem, invalid_field
from api.http.schemas import MAX_INTEGER
from projections.reads.read_store import Principal
from projections.reads.sessions import pooled_session
from projections.streams import feed
from projections.streams.cloudevents import EVENT_TYPES, CloudEventType
from sql.names import ADMIN_ROLE

router = APIRouter(prefix="/api/events", tags=["events"], dependencies=[Depends(known_query_only)])
MEDIA_TYPE = "application/x-ndjson"


async def feed_reader(principal: PrincipalDep) -> Principal:
    if not (principal.admin or principal.auditor):
        raise Problem(403, "the event feed is for admins and auditors only")
    return principal


FeedReaderDep = Annotated[Principal, Depends(feed_reader)]
After = Annotated[
    int, Query(ge=0, le=MAX_INTEGER, description="Events after this position (0: the start).")
]
Types = Annotated[
    list[CloudEventType] | None,
    Query(alias="type", max_length=len(EVENT_TYPES),
          description=f"Only events of these types: {', '.join(EVENT_TYPES)}."),
]  # fmt: skip
UserId = Annotated[
    str | None,
    Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$",
          description="Only the events of this user's exports, and their erasure."),
]  # fmt: skip
Sealed = Annotated[bool, Query(description="Only events a signed checkpoint covers.")]
Personal = Annotated[
    bool,
    Query(description="Open the personal fields (admins only); an erased subject's stay "
          "withheld. What leaves the ledger leaves the reach of later erasure."),
]  # fmt: skip
_EXAMPLE = (
    '{"specversion":"1.0","id":"17","source":"export-ledger.local/0123456789abcdef",'
    '"type":"export.downloaded","subject":"exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C",'
    '"time":"2026-03-03T14:00:00.000000+00:00","datacontenttype":"application/json",'
    '"leafhash":"' + "1d" * 32 + '","leafindex":16,"checkpointsize":20,'
    '"data":{"actor":"5f0c0a7e4f555d0e9d426a1f0c1d2e3f","file_sha256":null,'
    '"subject":"5f0c0a7e4f555d0e9d426a1f0c1d2e3f"}}\n'
)
_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Up to `limit` CloudEvents (structured JSON), one a line, in position "
        "order; the next page's URL in the `Link` header (rel=next).",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}, "example": _EXAMPLE}},
    }
}


def query_of(
    after: int, limit: int, types: list[CloudEventType] | None, user_id: str | None, sealed: bool
) -> feed.FeedQuery:
    """The feed query of a request's parameters (the types are checked by FastAPI)."""
    return feed.FeedQuery(after, limit, tuple(types or ()), user_id, sealed)


def check_personal(principal: Principal, personal: bool) -> None:
    if personal and not principal.admin:
        raise Problem(403, "only admins may open personal fields")


def check_cursor(after: int, limits: feed.Bounds) -> None:
    if after > limits.head:
        raise invalid_field("query.after", f"is ahead of the log's head ({limits.head})")


@router.get(
    "",
    response_class=Response,
    summary="Read the ledger's events as CloudEvents (admins and auditors)",
    description="A page of CloudEvents 1.0 in structured JSON, one per line, in log "
    "position order, after the cursor `after`; the next cursor is in the `Link` header "
    "(rel=next). Personal fields are named under `data.withheld`, not valued, unless an "
    "admin asks for `personal=true`. Receivers dedupe by the event `id`.",
    responses={**_PAGE, **problems.responses(401, 403, 422, 503)},
)
def events_page(
    principal: FeedReaderDep,
    reads: ReadsDep,
    services: ServicesDep,
    request: Request,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = 100,
    types: Types = None,
    user_id: UserId = None,
    sealed: Sealed = False,
    personal: Personal = False,
) -> Response:
    check_personal(principal, personal)
    query = query_of(after, limit, types, user_id, sealed)
    with pooled_session(reads, ADMIN_ROLE) as conn:
        limits = feed.bounds(conn)
        check_cursor(after, limits)
        how = feed.rendering(conn, services.settings.log_origin, personal)
        page = feed.page(conn, query, limits, how)
    link = f'<{next_url(request, page.next_after)}>; rel="next"'
    return Response(page.jsonl(), media_type=MEDIA_TYPE, headers={"Link": link})


def next_url(request: Request, after: int) -> str:
    """This request's path and query with the cursor moved to ``after``."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    return f"{request.url.path}?{urlencode([('after', str(after)), *params])}"
