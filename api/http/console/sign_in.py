"""Signing in and out of the console."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from api.http.console import session
from api.http.console.rendering import console_of, redirect, render
from api.http.deps import services_of
from api.wiring.auth import (
    InvalidToken,
    KeysUnavailable,
    issue_token,
    resolve_secret,
    valid_user_id,
)

router = APIRouter(include_in_schema=False)
DEV_TOKEN_TTL = timedelta(hours=8)


@router.get("/")
def root() -> Response:
    """The server's root is the console."""
    return redirect("/ui")


@router.get("/ui")
@router.get("/ui/")
def home() -> Response:
    return redirect("/ui/exports")


@router.get("/ui/sign-in")
def sign_in_page(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    message = "Your session has ended; sign in again." if expired else None
    return _page(request, next, message, 200)


@router.post("/ui/sign-in")
async def sign_in(request: Request) -> Response:
    session.same_origin(request)
    form = await session.read_form(request)
    token = form.get("token", "").strip().removeprefix("Bearer ").strip()
    if not token:
        return _page(request, form.get("next"), "Paste a bearer token.", 400)
    try:
        services_of(request).verifier.verify(token)
    except InvalidToken as error:
        return _page(request, form.get("next"), f"That token was refused: {error}.", 401)
    except KeysUnavailable:
        return _page(request, form.get("next"), "The signing keys cannot be fetched now.", 503)
    response = redirect(session.safe_next(form.get("next")))
    session.start_session(response, request, token)
    return response


@router.post("/ui/sign-in/dev")
async def dev_sign_in(request: Request) -> Response:
    """Embedded default only: sign in as any user, or as an admin, without a token."""
    if not console_of(request).dev_sign_in:
        raise session.PageError(404, "Dev sign-in is off on this server.")
    session.same_origin(request)
    form = await session.read_form(request)
    user = form.get("user", "").strip()
    if not valid_user_id(user):
        return _page(request, form.get("next"), "A user id is 1 to 200 printable characters.", 400)
    settings = services_of(request).settings
    secret = resolve_secret(settings)
    if secret is None:
        raise session.PageError(404, "Dev sign-in needs the server's own token secret.")
    token = issue_token(
        secret,
        user,
        admin=form.get("role") == "admin",
        auditor=form.get("role") == "auditor",
        ttl=DEV_TOKEN_TTL,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    response = redirect(session.safe_next(form.get("next")))
    session.start_session(response, request, token)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    form = await session.read_form(request)
    session.check_post(console_of(request).csrf_key, request, form)
    response = redirect("/ui/sign-in")
    session.end_session(response)
    return response


def _page(request: Request, target: str | None, message: str | None, status: int) -> Response:
    return render(
        request,
        "sign_in.html",
        status,
        title="Sign in",
        principal=None,
        next=session.safe_next(target),
        message=message,
        dev_sign_in=console_of(request).dev_sign_in,
    )
