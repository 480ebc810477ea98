"""The console's state (templates, CSRF key, background jobs) and how its pages are rendered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.http.console import session
from api.http.console.counts import StatusCounts
from api.http.console.jobs import Jobs

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class ConsoleState:
    """What the console keeps for the life of the app (in ``app.state.console``)."""

    templates: jinja2.Environment
    csrf_key: bytes
    dev_sign_in: bool
    jobs: Jobs
    status_counts: StatusCounts


def console_of(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
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


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.http.console", "templates"),
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
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
