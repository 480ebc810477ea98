"""/api/events/stream: the ledger's events as Server-Sent Events, live.

Each event is one CloudEvent (``data:``, structured JSON) with ``id:`` its log position.
A stream starts at the head (new events only) unless ``Last-Event-ID`` (a reconnect: it
wins) or ``?after=`` says where; ``Last-Event-ID: 0`` replays everything. It reads the
feed's pages (projections/streams/feed.py) and, at the head, waits on the process's one
LISTEN (projections/streams/watch.py): memory is one page per stream, whatever the
backlog. A reader that stops taking events for ``SEND_TIMEOUT_SECONDS`` is dropped, and
reconnects with its cursor. Comment lines every ``heartbeat`` seconds keep proxies open.

Authentication is the bearer header or, for browsers' EventSource (which sends no
headers), the console's session cookie.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.http import problems
from api.http.deps import ReadsDep, ServicesDep, bearer, current_principal, known_query_only
from api.http.routes.events import (
    Personal,
    Sealed,
    Types,
    UserId,
    check_cursor,
    check_personal,
    feed_reader,
    query_of,
)
from api.http.schemas import MAX_INTEGER
from api.wiring.auth import SESSION_COOKIE
from projections.db.database import Database
from projections.reads.read_store import Principal, ReadStore
from projections.reads.sessions import pooled_session
from projections.streams import feed
from projections.streams.watch import LogWatcher
from sql.names import ADMIN_ROLE

router = APIRouter(prefix="/api/events", tags=["events"], dependencies=[Depends(known_query_only)])
PAGE = 200
SEND_TIMEOUT_SECONDS = 30.0
RETRY_MS = 2000
_WATCHER = "log_watcher"


async def stream_reader(
    services: ServicesDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """An admin or auditor, by bearer header or else by the console's session cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if credentials is None and cookie:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=cookie)
    return await feed_reader(await current_principal(services, credentials, request))


StreamReaderDep = Annotated[Principal, Depends(stream_reader)]
StartAfter = Annotated[
    int | None,
    Query(ge=0, le=MAX_INTEGER, description="Events after this position (0: the start; "
          "unset: new events only)."),
]  # fmt: skip
LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,16}$",
           description="Resume after this position (what the stream last sent as `id:`)."),
]  # fmt: skip
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `id:` the position, `data:` a CloudEvent "
        "(structured JSON); comment lines as heartbeats.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def watcher_of(app: FastAPI, db: Database) -> LogWatcher:
    watcher: LogWatcher | None = getattr(app.state, _WATCHER, None)
    if watcher is None:
        watcher = LogWatcher(db)
        setattr(app.state, _WATCHER, watcher)
    return watcher


async def close_watcher(app: FastAPI) -> None:
    """Stop this app's LISTEN, if a stream started one (at shutdown)."""
    watcher: LogWatcher | None = getattr(app.state, _WATCHER, None)
    if watcher is not None:
        await watcher.close()


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Follow the ledger's events live, as Server-Sent Events (admins and auditors)",
    description="New events as they are committed (or, with `sealed=true`, once a checkpoint "
    "covers them), each a CloudEvent with `id:` its position. Starts at the head unless "
    "`Last-Event-ID` or `after` says where (`0`: from the start). Takes the feed's filters. "
    "Authenticated by bearer header or the console's session cookie.",
    responses={**_STREAM, **problems.responses(401, 403, 422, 503)},
)
async def events_stream(
    principal: StreamReaderDep,
    reads: ReadsDep,
    services: ServicesDep,
    request: Request,
    last_event_id: LastEventId = None,
    after: StartAfter = None,
    types: Types = None,
    user_id: UserId = None,
    sealed: Sealed = False,
    personal: Personal = False,
) -> EventSourceResponse:
    check_personal(principal, personal)
    limits = await run_in_threadpool(_bounds, reads)
    start = int(last_event_id) if last_event_id is not None else after
    start = limits.head if start is None else start
    check_cursor(start, limits)
    query = query_of(start, PAGE, types, user_id, sealed)
    watcher = watcher_of(request.app, services.database)
    events = _events(reads, query, services.settings.log_origin, personal, watcher)
    return EventSourceResponse(
        events,
        ping=services.settings.events_heartbeat_seconds,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _bounds(reads: ReadStore) -> feed.Bounds:
    with pooled_session(reads, ADMIN_ROLE) as conn:
        return feed.bounds(conn)


def _page(reads: ReadStore, query: feed.FeedQuery, origin: str | None, personal: bool
          ) -> feed.Page:  # fmt: skip
    with pooled_session(reads, ADMIN_ROLE) as conn:
        limits = feed.bounds(conn)
        return feed.page(conn, query, limits, feed.rendering(conn, origin, personal))


async def _events(
    reads: ReadStore,
    query: feed.FeedQuery,
    origin: str | None,
    personal: bool,
    watcher: LogWatcher,
) -> AsyncIterator[ServerSentEvent]:
    """Pages from the cursor on, forever; at the head, a wait for the next notification."""
    yield ServerSentEvent(retry=RETRY_MS, comment="export-ledger events")
    while True:
        changed = watcher.changed()
        try:
            page = await run_in_threadpool(_page, reads, query, origin, personal)
        except psycopg.OperationalError:  # the database is away: try again, keep the reader
            await watcher.wait(changed)
            continue
        for event in page.events:
            yield ServerSentEvent(orjson.dumps(event).decode(), id=event["id"])
        caught_up = len(page.events) < query.limit
        query = feed.FeedQuery(page.next_after, query.limit, query.types, query.user_id,
                               query.sealed)  # fmt: skip
        if caught_up:
            await watcher.wait(changed)
