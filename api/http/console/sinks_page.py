"""/ui/sinks (admins): the webhook sinks and their delivery state, and forms to add,
pause, resume, replay and remove them.

Every action goes through the same store functions and target checks as /api/sinks and
the CLI (:mod:`projections.sinks.store`, the allow-list of ``EXPORT_LEDGER_SINK_HOSTS``).
A new sink's secret is shown once, in the answer to the form that added it: never in a
redirect, a log line or the listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi import APIRouter, Request, Response

from api.http.console import session
from api.http.console.rendering import console_of, redirect, render
from api.http.console.session import AdminDep
from api.http.deps import ServicesDep
from api.wiring.sink_key import allowed_hosts, sink_key
from domain.exceptions import ConfigurationError, InvalidSink, SinkExists, SinkNotFound
from projections.sinks import store
from projections.sinks.targets import check_name
from projections.streams.cloudevents import EVENT_TYPES
from sql import statement
from sql.names import WRITER_ROLE

router = APIRouter(include_in_schema=False)
TYPE_FIELD = "type:"  # one checkbox per event type: ``type:export.completed``
_MAX_POSITION = 2**53 - 1
ACTIONS = {"pause": "paused", "resume": "resumed", "replay": "replaying", "remove": "removed"}
_FIELDS = ("name", "url", "user_id")


@contextmanager
def _writer(services: Any) -> Iterator[psycopg.Connection[Any]]:
    """The sinks are managed as the writer's login, as /api/sinks and the CLI do."""
    with services.database.connect(WRITER_ROLE, autocommit=True) as conn:
        yield conn


def _listing(conn: psycopg.Connection[Any]) -> tuple[int, list[dict[str, Any]]]:
    row = conn.execute(statement("read_model", "head_position")).fetchone()
    head = int(row[0]) if row else 0
    return head, [s.public(head) for s in store.listed(conn)]


def _page(
    request: Request,
    principal: Any,
    services: Any,
    status: int = 200,
    *,
    notice: str = "",
    error: str = "",
    form: dict[str, str] | None = None,
) -> Response:
    with _writer(services) as conn:
        head, sinks = _listing(conn)
    entered = {k: (form or {}).get(k, "") for k in _FIELDS}
    checked = {t for t in EVENT_TYPES if (form or {}).get(TYPE_FIELD + t)}
    return render(
        request, "sinks.html", status, title="Sinks", principal=principal, head=head,
        sinks=sinks, notice=notice, error=error, entered=entered, checked=checked,
        personal=bool((form or {}).get("personal_data")), event_types=EVENT_TYPES,
        type_field=TYPE_FIELD,
    )  # fmt: skip


@router.get("/ui/sinks")
def sinks_page(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    done, name = request.query_params.get("done", ""), request.query_params.get("sink", "")
    notice = ""
    if done in ACTIONS and _is_name(name):
        notice = f"Sink {name} {ACTIONS[done]}."
    return _page(request, principal, services, notice=notice)


@router.post("/ui/sinks")
async def add_sink(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    form = await session.read_form(request)
    session.check_post(console_of(request).csrf_key, request, form)
    if any(field not in form for field in _FIELDS):  # a missing user would mean every user
        raise session.PageError(400, "The form is incomplete; reload the page and try again.")
    types = tuple(
        k.removeprefix(TYPE_FIELD) for k, v in form.items() if k.startswith(TYPE_FIELD) and v
    )
    sink = store.SinkCreate(
        name=form.get("name", "").strip(),
        url=form.get("url", "").strip(),
        types=types,
        user_id=form.get("user_id", "").strip() or None,
        personal=bool(form.get("personal_data")),
    )
    settings = services.settings
    try:
        key = sink_key(settings)
    except ConfigurationError as error:
        raise session.PageError(503, f"The sink key cannot be read: {error}") from None
    try:
        with _writer(services) as conn:
            secret = store.add(conn, sink, key, allowed_hosts(settings))
    except SinkExists as error:  # an InvalidSink too: first
        return _refused(request, principal, services, 409, f"Refused: {error}", form)
    except InvalidSink as error:
        return _refused(request, principal, services, 422, f"Refused: {error}", form)
    return render(
        request, "sink_added.html", 201, title="Sink added", principal=principal,
        sink=sink, secret=secret,
    )  # fmt: skip


def _refused(
    request: Request, principal: Any, services: Any, status: int, message: str,
    form: dict[str, str],
) -> Response:  # fmt: skip
    return _page(request, principal, services, status, error=message, form=form)


@router.post("/ui/sinks/{name}/{action}")
async def change_sink(
    name: str, action: str, request: Request, _: AdminDep, services: ServicesDep
) -> Response:
    form = await session.read_form(request)
    session.check_post(console_of(request).csrf_key, request, form)
    if action not in ACTIONS:
        raise session.PageError(404, "There is no such action on a sink.")
    if not _is_name(name):
        raise session.PageError(404, f"There is no sink {name!r}.")
    params = {"cursor": _replay_start(form) - 1} if action == "replay" else {}
    try:
        with _writer(services) as conn:
            store.change(conn, name, action, **params)
    except SinkNotFound:
        raise session.PageError(404, f"There is no sink {name!r}.") from None
    return redirect(f"/ui/sinks?done={action}&sink={name}")


def _replay_start(form: dict[str, str]) -> int:
    text = form.get("from", "").strip()
    if not (
        text.isascii() and text.isdigit() and len(text) <= 16 and 1 <= int(text) <= _MAX_POSITION
    ):
        raise session.PageError(400, "The replay position is a whole number from 1 on.")
    return int(text)


def _is_name(name: str) -> bool:
    try:
        check_name(name)
    except InvalidSink:
        return False
    return True
