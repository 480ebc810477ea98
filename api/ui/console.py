"""The console's state (templates, CSRF key, background jobs), its routes and rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.metrics import Metrics
from api.settings import Settings
from api.ui import session
from api.ui.counts import StatusCounts
from api.ui.jobs import Jobs

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Console:
    templates: jinja2.Environment
    csrf_key: bytes
    dev_sign_in: bool
    jobs: Jobs
    status_counts: StatusCounts


def install(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Mount the console on ``app`` (called by create_app, at start-up)."""
    from api.ui import exports_pages, ledger_page, sign_in

    app.state.console = Console(
        templates=_environment(),
        csrf_key=secrets.token_bytes(32),
        dev_sign_in=session.dev_sign_in_enabled(settings),
        jobs=Jobs(metrics),
        status_counts=StatusCounts(),
    )
    for module in (sign_in, exports_pages, ledger_page):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(packages=[("api.ui", "static")]), name="ui-static")
    app.add_exception_handler(session.SignInRequired, _to_sign_in)
    app.add_exception_handler(session.PageError, _error_page)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    console = console_of(request)
    page = console.templates.get_template(template).render(
        path=request.url.path,
        csrf=session.csrf_token(console.csrf_key, request),
        **context,
    )
    return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)


def redirect(location: str) -> RedirectResponse:
    """303: after a POST, the browser GETs the page (no resubmission on reload)."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


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


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["size"] = human_size
    for name in env.list_templates(filter_func=lambda n: n.endswith(".html")):
        env.get_template(name)  # compiled at start-up, not on a user's first visit
    return env


def when(moment: datetime | None) -> str:
    """A moment in UTC, to the second, for people."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
