"""The FastAPI application: built by :func:`create_app` from settings, nothing at import.

Start-up opens the database (migrating it), the ledger, the read pool, the
position watcher and, unless told otherwise, the projection follower in a
background thread, so one process is a whole working system.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio.to_thread
import psycopg
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems, ui
from api.auth import verifier_for
from api.database import migrate, open_database, open_ledger
from api.deps import Services
from api.logs import RequestLog
from api.metrics import Metrics, observe_commands
from api.queries import ReadStore
from api.routes import audit as audit_routes
from api.routes import downloads, exports, health, history
from api.routes import ledger as ledger_routes
from api.routes import metrics as metrics_route
from api.schemas import NO_NUL
from api.settings import Settings
from api.signing import Ed25519Signer, signer_for
from projections.follower import Follower, PositionWatcher
from projections.sealer import Sealer
from projections.store import EVENTS_TABLE

log = logging.getLogger(__name__)

DESCRIPTION = """\
An event-sourced, tamper-evident audit ledger for data exports.

Every command is recorded as an event; reads come from the `export_logs` read
table, which a projection keeps up to date. A command's response carries
`X-Ledger-Position`: pass it as `min_position` (or `X-Min-Position`) to a read
to see your own write. Errors are RFC 9457 `application/problem+json`.
"""


class Projector:
    """Runs the projection follower and the sealer in threads, restarting them after errors."""

    def __init__(self, url: str, signer: Ed25519Signer | None = None) -> None:
        self.url = url
        self._workers: list[Follower | Sealer] = [Follower(url)]
        if signer is not None:
            self._workers.append(Sealer(url, signer))
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(w,), name=type(w).__name__, daemon=True)
            for w in self._workers
        ]

    def start(self) -> Projector:
        for thread in self._threads:
            thread.start()
        return self

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.stop()
        self._wake()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, worker: Follower | Sealer) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                worker.run()
            except Exception as error:  # keep projecting whatever went wrong
                log.warning(
                    "%s stopped: %s; restarting in %.0f s", type(worker).__name__, error, backoff
                )
                if time.monotonic() - started > 60:
                    backoff = 1.0
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _wake(self) -> None:
        """A notification on the events channel ends the follower's wait at once."""
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT pg_notify(%s, '')", (EVENTS_TABLE,))
        except psycopg.Error:
            pass


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
) -> tuple[Services, ExitStack]:
    """Everything the routes need, and the stack that closes it again."""
    verifier = verifier_for(settings)  # fail on bad auth settings before starting anything
    with ExitStack() as stack:
        database = open_database(settings)
        if run_migrations:
            migrate(database.url)
        ledger = open_ledger(database, settings, group_commit=settings.group_commit)
        stack.callback(ledger.close)
        metrics = metrics or Metrics()
        observe_commands(ledger, metrics)
        reads = ReadStore(
            database.url,
            size=settings.pool_size,
            timeout=settings.pool_timeout_seconds,
            replicas=[url.get_secret_value() for url in settings.read_database_urls],
        ).open()
        stack.callback(reads.close)
        projector = Projector(database.url, signer_for(settings)).start() if run_projector else None
        if projector is not None:
            stack.callback(projector.stop)
        watcher = PositionWatcher(database.url).start()
        stack.callback(watcher.stop)
        services = Services(
            settings=settings,
            database=database,
            ledger=ledger,
            reads=reads,
            watcher=watcher,
            verifier=verifier,
            projector_alive=projector.alive if projector else None,
            metrics=metrics,
        )
        closing = stack.pop_all()  # start-up went well: the caller closes it all later
    return services, closing


def create_app(
    settings: Settings, *, run_projector: bool = True, run_migrations: bool = True
) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services, stack = await anyio.to_thread.run_sync(
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
            await anyio.to_thread.run_sync(stack.close)

    app = FastAPI(
        title="Export Ledger",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "exports", "description": "Export requests and their lifecycle."},
            {"name": "downloads", "description": "Downloads of exported files."},
            {"name": "history", "description": "The audit trail of an export."},
            {"name": "ledger", "description": "The signed Merkle seal and its proofs."},
            {"name": "audit", "description": "The compliance export of the log."},
            {"name": "health", "description": "Liveness and readiness probes."},
        ],
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog, metrics=metrics)
    for module in (health, exports, downloads, history):
        app.include_router(module.router)
    app.include_router(ledger_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(metrics_route.router)
    ui.install(app, settings, metrics)
    app.openapi = _openapi_builder(app)  # type: ignore[method-assign]
    return app


def _openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            problems.add_schemas(schema)
            for name, component in schema.get("components", {}).get("schemas", {}).items():
                if name.startswith(("ExportConfig", "ExportFilters")):
                    _forbid_nul(component)
        assert app.openapi_schema is not None
        return app.openapi_schema

    return openapi


def _forbid_nul(node: Any) -> None:
    """Document that text must not contain NUL (PostgreSQL cannot store it)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = NO_NUL
        for value in node.values():
            _forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_nul(value)


def _version() -> str:
    try:
        return version("export-ledger")
    except PackageNotFoundError:
        return "0"
