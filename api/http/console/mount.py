"""Mounting the console on the app: its state, its page routers, static files and error pages.

The page modules import their rendering helpers from :mod:`api.http.console.rendering`; this
module imports the pages, never the other way round.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.http.console import (
    exports_pages,
    retention_page,
    seal_page,
    session,
    sign_in,
    sinks_page,
)
from api.http.console.counts import StatusCounts
from api.http.console.jobs import Jobs
from api.http.console.rendering import ConsoleState, environment, render
from api.wiring.metrics import Metrics
from api.wiring.settings import Settings


def install(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Mount the console on ``app`` (called by create_app, at start-up)."""
    app.state.console = ConsoleState(
        templates=environment(),
        csrf_key=secrets.token_bytes(32),
        dev_sign_in=session.dev_sign_in_enabled(settings),
        jobs=Jobs(metrics),
        status_counts=StatusCounts(),
    )
    for module in (sign_in, exports_pages, seal_page, sinks_page, retention_page):
        app.include_router(module.router)
    static = StaticFiles(packages=[("api.http.console", "static")])
    app.mount("/ui/static", static, name="ui-static")
    app.add_exception_handler(session.SignInRequired, _to_sign_in)
    app.add_exception_handler(session.PageError, _error_page)


async def _to_sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, session.SignInRequired)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/ui/sign-in?next={quote(target, safe='')}"
    if error.reason:
        location += "&expired=1"
    response = RedirectResponse(location, status_code=303)
    if error.reason:
        session.end_session(response)
    return response


async def _error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, session.PageError)
    return render(
        request, "error.html", error.status, title=f"Error {error.status}", message=error.message,
        principal=None,
    )  # fmt: skip
