"""What route handlers depend on, as ``Annotated`` aliases.

Dependencies that only compute are ``async``, so they run on the event loop:
FastAPI runs a plain ``def`` dependency on a worker thread, and those hops
cost more than the work. What may block (a database query, a wait, a key
fetched over the network) goes to a thread.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.http.problems import Problem, unavailable
from api.http.schemas import Position
from api.wiring.auth import InvalidToken, KeysUnavailable
from api.wiring.bootstrap import Runtime
from domain.application import ExportLedger
from projections.reads import Principal, ReadStore

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
    description="A JWT whose 'sub' is the user id; a 'role' claim of 'admin' makes an admin.",
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
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise Problem(403, "this operation is for admins only")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]


Consistency = Literal["strong", "eventual"]


async def read_after(
    services: ServicesDep,
    reads: ReadsDep,
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
) -> None:
    """Read-your-writes: hold the read until the projection has caught up, within a bound,
    on the server this request reads from (a replica's own tracking position).

    By default the read waits for the head of the log as it stood when the read
    began, so a client sees its own writes (and everyone's before them) with no
    token; ``consistency=eventual`` waits only for an explicit ``min_position``.
    """
    wanted = max(min_position or 0, x_min_position or 0)
    if consistency == "eventual" and (wanted == 0 or reads.reached(wanted, services.watcher)):
        return
    await run_in_threadpool(wait_until_read, services, reads, wanted, consistency == "strong")


def wait_until_read(
    services: Services, reads: ReadStore, wanted: int = 0, through_head: bool = True
) -> None:
    """Wait until this request's server includes position ``wanted`` and, with
    ``through_head``, the head of the log as it is now: 422 when ``wanted`` is ahead
    of the head, 503 when the wait runs out (the projector is down or far behind)."""
    head = services.ledger.head_position()
    if wanted > head:
        raise Problem(
            422, f"min_position {wanted} is ahead of the ledger (head {head})", kind="validation"
        )
    target = head if through_head else wanted
    if reads.reached(target, services.watcher):
        return
    if not reads.wait_for(target, services.settings.read_wait_seconds, services.watcher):
        raise unavailable(
            f"the read table has not reached position {target} yet "
            f"(at {reads.position(services.watcher)}); retry shortly"
        )


ReadAfterDep = Annotated[None, Depends(read_after)]
