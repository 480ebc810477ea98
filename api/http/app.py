"""The FastAPI application: built by :func:`create_app` from settings, nothing at import.

Start-up opens the database (migrating it), the ledger, the read pool, the
position watcher and, unless told otherwise, the projection follower in a
background thread, so one process is a whole working system.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import problems, schemas_commands, tracing
from api.http.console import mount as console
from api.http.routes import audit as audit_routes
from api.http.routes import (
    auth_v1,
    downloads,
    events_stream,
    exports,
    health,
    history,
    holds,
    rest_v1,
    retention,
    subjects,
)
from api.http.routes import events as events_routes
from api.http.routes import metrics as metrics_route
from api.http.routes import seal as seal_routes
from api.http.routes import sinks as sinks_routes
from api.http.routes import tlog as tlog_routes
from api.wiring.auth import verifier_for
from api.wiring.bootstrap import Runtime, bootstrap
from api.wiring.logs import RequestLog
from api.wiring.metrics import Metrics
from api.wiring.settings import Settings

log = logging.getLogger("export_ledger.server")

DESCRIPTION = """\
An event-sourced, tamper-evident audit ledger for data exports.

Every command is recorded as an event; reads come from the `export_logs` read
table, which a projection keeps up to date. A command's response carries
`X-Ledger-Position`: pass it as `min_position` (or `X-Min-Position`) to a read
to see your own write. Errors are RFC 9457 `application/problem+json`.
"""


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before anything parses them.

    The body is read (at most ``max_bytes`` + 1 bytes) and replayed to the app,
    so a declared length that lies or a chunked body are both caught.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            response = problems.problem_response(
                400, "bad Content-Length header", kind="bad-request"
            )
            await response(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            more = message.get("more_body", False)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem_response(
            413, f"the body exceeds {self.max_bytes} bytes", kind="too-large"
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def open_services(
    settings: Settings,
    *,
    run_projector: bool = True,
    run_migrations: bool = True,
    metrics: Metrics | None = None,
) -> Runtime:
    """Everything the routes need, opened at start-up; closing it closes them all."""
    verifier_for(settings)  # fail on bad auth settings before starting anything
    runtime = bootstrap(
        settings,
        run_migrations=run_migrations,
        group_commit=settings.group_commit,
        metrics=metrics or Metrics(),
    )
    try:
        return runtime.open_for_serving(projector=run_projector)
    except BaseException:
        runtime.close()
        raise


def create_app(
    settings: Settings, *, run_projector: bool = True, run_migrations: bool = True
) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await anyio.to_thread.run_sync(
            lambda: open_services(
                settings,
                run_projector=run_projector,
                run_migrations=run_migrations,
                metrics=metrics,
            )
        )
        app.state.services = services
        try:
            yield
        finally:
            await events_stream.close_watcher(app)
            await anyio.to_thread.run_sync(services.close)
            await anyio.to_thread.run_sync(tracing.flush)

    app = FastAPI(
        title="Export Ledger",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=tracing.FASTAPI_TELEMETRY,
        openapi_tags=[
            {"name": "exports", "description": "Export requests and their lifecycle."},
            {"name": "downloads", "description": "Downloads of exported files."},
            {"name": "history", "description": "The audit trail of an export."},
            {"name": "holds", "description": "Legal holds that keep an export's records."},
            {"name": "subjects", "description": "Data subjects: erasure and access."},
            {"name": "retention", "description": "Retention policies (admins)."},
            {"name": "ledger", "description": "The signed Merkle seal and its proofs."},
            {"name": "audit", "description": "The compliance export of the log."},
            {"name": "events", "description": "The log's events as CloudEvents: feed, stream."},
            {"name": "sinks", "description": "Webhook sinks the events are delivered to."},
            {"name": "health", "description": "Liveness and readiness probes."},
        ],
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog, metrics=metrics)
    for module in (health, exports, downloads, history, holds, subjects, retention):
        app.include_router(module.router)
    app.include_router(seal_routes.router)
    app.include_router(tlog_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(events_routes.router)
    app.include_router(events_stream.router)
    app.include_router(sinks_routes.router)
    app.include_router(metrics_route.router)
    app.include_router(rest_v1.router)  # the Supabase-compatible surface
    app.include_router(auth_v1.router)
    console.install(app, settings, metrics)
    tracing.install()
    app.openapi = _openapi_builder(app)  # type: ignore[method-assign]
    return app


def _openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            problems.add_schemas(schema)
            schemas_commands.add_schemas(schema)
        assert app.openapi_schema is not None
        return app.openapi_schema

    return openapi


def _version() -> str:
    try:
        return version("export-ledger")
    except PackageNotFoundError:
        return "0"
