"""What route handlers depend on, as ``Annotated`` aliases.

Dependencies that only compute are ``async``, so they run on the event loop:
FastAPI runs a plain ``def`` dependency on a worker thread, and those hops
cost more than the work. What may block (a database query, a wait, a key
fetched over the network) goes to a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.http.problems import Problem, unavailable
from api.http.schemas import Position
from api.wiring.auth import InvalidToken, KeysUnavailable
from api.wiring.bootstrap import Runtime
from domain.ledger.application import ExportLedger
from projections.reads.read_store import Principal, ReadStore

Services = Runtime
"""What the app opened at start-up (``app.state.services``); closed at shutdown."""


async def known_query_only(request: Request) -> None:
    """Unknown query parameters are refused (422), as unknown body fields are."""
    route = request.scope.get("route")
    allowed = _query_names(route) if isinstance(route, APIRoute) else frozenset()
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        errors = [
            {
                "field": f"query.{name}",
                "message": "unknown query parameter",
                "type": "extra_forbidden",
            }
            for name in unknown
        ]
        raise Problem(
            422, f"unknown query parameters: {', '.join(unknown)}", kind="validation", errors=errors
        )


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters a route and its dependencies take (routes are fixed at
    start-up, so worked out once per route and kept on it, not per request)."""
    known: frozenset[str] | None = route.__dict__.get(_QUERY_NAMES)
    if known is None:
        known = _walk_query_names(route)
        setattr(route, _QUERY_NAMES, known)
    return known


_QUERY_NAMES = "_export_ledger_query_names"


def _walk_query_names(route: APIRoute) -> frozenset[str]:
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ledger(services: ServicesDep) -> ExportLedger:
    return services.ledger


async def get_reads(services: ServicesDep) -> ReadStore:
    """The read store, pinned for this request to a replica (or the primary)."""
    return services.reads.for_request()


LedgerDep = Annotated[ExportLedger, Depends(get_ledger)]
ReadsDep = Annotated[ReadStore, Depends(get_reads)]

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT whose 'sub' is the user id; a 'role' claim of 'admin' makes an admin, "
    "'auditor' a read-only auditor.",
)


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="export-ledger"'})


async def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    request: Request,
) -> Principal:
    if credentials is None:
        raise unauthorized("missing bearer token")
    verifier, token = services.verifier, credentials.credentials
    try:
        if verifier.may_block:
            principal = await run_in_threadpool(verifier.verify, token)
        else:
            principal = verifier.verify(token)
    except InvalidToken as error:
        raise unauthorized(str(error)) from None
    except KeysUnavailable:
        raise unavailable("the token signing keys cannot be fetched") from None
    request.state.user_id = principal.user_id  # for the request's log line
    if principal.auditor and request.method not in _READS:
        raise Problem(403, "auditors may only read")
    return principal


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise Problem(403, "this operation is for admins only")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]


Consistency = Literal["strong", "eventual"]


@dataclass(frozen=True, slots=True)
class ReadAfter:
    """What a read must include before it answers (see :func:`wait_for_read`)."""

    position: int = 0
    """An explicit ``min_position`` (0: none)."""
    strong: bool = True
    """Every command acknowledged before the read began (the default)."""


async def read_after(
    min_position: Annotated[
        Position | None,
        Query(
            description="Wait until the read table includes this log position "
            "(from a command's X-Ledger-Position header).",
        ),
    ] = None,
    x_min_position: Annotated[
        Position | None,
        Header(alias="X-Min-Position", description="Same as the min_position query parameter."),
    ] = None,
    consistency: Annotated[
        Consistency,
        Query(
            description="strong (the default): the read reflects every command acknowledged "
            "before it began; eventual: whatever the read table holds now (min_position "
            "still waits)."
        ),
    ] = "strong",
) -> ReadAfter:
    return ReadAfter(max(min_position or 0, x_min_position or 0), consistency == "strong")


ReadAfterDep = Annotated[ReadAfter, Depends(read_after)]


def wait_for_read(
    services: Services,
    reads: ReadStore,
    after: ReadAfter,
    export_id: str | None = None,
    caller: Principal | None = None,
) -> None:
    """Read-your-writes: hold the read until this request's server (the primary, or a
    replica by its own tracking position) includes what ``after`` asks, within a bound.

    A strong read of many exports waits for the head of the log as it was when the
    read began; of one export, for that export's latest event, which is all its row
    depends on (so writes to other exports never hold it up). A strong list of a
    ``caller`` who is not an admin, who sees only their own exports, waits only for
    the events up to that head that concern them (:meth:`last_position_concerning`),
    so other users' writes never hold it up either. 422 when ``min_position`` is
    ahead of the head, 503 when the wait runs out (the projector is down or far
    behind). Called from the routes' own threads: it may block.
    """
    ledger, target = services.ledger, after.position
    head = ledger.head_position() if after.position or (after.strong and export_id is None) else 0
    if after.position > head:
        raise Problem(
            422, f"min_position {after.position} is ahead of the ledger (head {head})",
            kind="validation",
        )  # fmt: skip
    if after.strong:
        target = max(target, _strong_target(services, reads, head, export_id, caller))
    if target == 0 or reads.reached(target, services.watcher):
        return
    if not reads.wait_for(target, services.settings.read_wait_seconds, services.watcher):
        raise unavailable(
            f"the read table has not reached position {target} yet "
            f"(at {reads.position(services.watcher)}); retry shortly"
        )


def _strong_target(
    services: Services, reads: ReadStore, head: int, export_id: str | None, caller: Principal | None
) -> int:
    """The position a strong read waits for (see :func:`wait_for_read`)."""
    ledger = services.ledger
    if export_id is not None:
        return ledger.last_position(export_id) or 0
    if caller is None or caller.admin:
        return head
    # Everything up to the server's position is in its read table already.
    return ledger.last_position_concerning(caller.user_id, reads.position(services.watcher), head)
