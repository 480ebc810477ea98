"""/api/sinks: webhook sinks of the ledger's events (admins only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Response

from api.http import problems
from api.http.deps import AdminDep, ServicesDep, known_query_only
from api.http.problems import Problem, invalid_field
from api.http.schemas_sinks import (
    SINK_NAME,
    SinkCreate,
    SinkCreated,
    SinkList,
    SinkPublic,
    SinkReplay,
)
from api.wiring.sink_key import allowed_hosts, sink_key
from domain.exceptions import InvalidSink, SinkExists, SinkNotFound
from projections.sinks import store
from sql import statement
from sql.names import WRITER_ROLE

router = APIRouter(prefix="/api/sinks", tags=["sinks"], dependencies=[Depends(known_query_only)])
NamePath = Annotated[str, Path(pattern=SINK_NAME, description="The sink's name.")]


@contextmanager
def _writer(services: Any) -> Iterator[psycopg.Connection[Any]]:
    with services.database.connect(WRITER_ROLE, autocommit=True) as conn:
        yield conn


def _public(conn: psycopg.Connection[Any], name: str | None = None) -> list[SinkPublic]:
    row = conn.execute(statement("read_model", "head_position")).fetchone()
    head = int(row[0]) if row else 0
    found = [s for s in store.listed(conn) if name is None or s.name == name]
    return [SinkPublic(**s.public(head)) for s in found]


@router.post(
    "",
    status_code=201,
    response_model=SinkCreated,
    summary="Add a webhook sink (admins); its secret is shown this once",
    description="The sink gets the events committed from now on, signed as Standard Webhooks "
    "sign them. Receivers dedupe by the CloudEvent id.",
    responses={
        201: {"description": "The sink, with its secret."},
        **problems.responses(400, 401, 403, 409, 413, 422, 503),
    },
)
def add_sink(
    body: SinkCreate, _: AdminDep, services: ServicesDep, response: Response
) -> SinkCreated:
    sink = store.SinkCreate(body.name, body.url, tuple(body.types), body.user_id,
                            body.personal_data)  # fmt: skip
    settings = services.settings
    with _writer(services) as conn:
        try:
            secret = store.add(conn, sink, sink_key(settings), allowed_hosts(settings))
        except SinkExists as error:
            raise Problem(409, str(error), kind="sink-exists") from None
        except InvalidSink as error:
            raise invalid_field(f"body.{error.field}", str(error)) from None
        public = _public(conn, body.name)[0]
    response.headers["Location"] = f"/api/sinks/{body.name}"
    return SinkCreated(**public.model_dump(), secret=secret)


@router.get(
    "",
    response_model=SinkList,
    summary="The webhook sinks and their delivery state (admins)",
    responses=problems.responses(401, 403, 422, 503),
)
def list_sinks(_: AdminDep, services: ServicesDep) -> SinkList:
    with _writer(services) as conn:
        return SinkList(sinks=_public(conn))


def _change(services: Any, name: str, what: str, **params: Any) -> SinkPublic:
    with _writer(services) as conn:
        try:
            store.change(conn, name, what, **params)
        except SinkNotFound as error:
            raise Problem(404, str(error), kind="sink-not-found") from None
        return _public(conn, name)[0]


@router.post(
    "/{name}/pause",
    response_model=SinkPublic,
    summary="Stop delivering to a sink (admins); its cursor stays",
    responses=problems.responses(401, 403, 404, 422, 503),
)
def pause_sink(name: NamePath, _: AdminDep, services: ServicesDep) -> SinkPublic:
    return _change(services, name, "pause")


@router.post(
    "/{name}/resume",
    response_model=SinkPublic,
    summary="Deliver to a paused or failing sink again, now (admins)",
    responses=problems.responses(401, 403, 404, 422, 503),
)
def resume_sink(name: NamePath, _: AdminDep, services: ServicesDep) -> SinkPublic:
    return _change(services, name, "resume")


@router.post(
    "/{name}/replay",
    response_model=SinkPublic,
    summary="Send a sink the events again from a position on (admins)",
    responses=problems.responses(400, 401, 403, 404, 413, 422, 503),
)
def replay_sink(name: NamePath, body: SinkReplay, _: AdminDep, services: ServicesDep) -> SinkPublic:
    return _change(services, name, "replay", cursor=body.start - 1)


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    summary="Remove a sink and its deliveries (admins)",
    responses={204: {"description": "Removed."}, **problems.responses(401, 403, 404, 422, 503)},
)
def remove_sink(name: NamePath, _: AdminDep, services: ServicesDep) -> Response:
    with _writer(services) as conn:
        try:
            store.change(conn, name, "remove")
        except SinkNotFound as error:
            raise Problem(404, str(error), kind="sink-not-found") from None
    return Response(status_code=204)
