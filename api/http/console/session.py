"""Who is signed in to the console: the bearer token in a cookie, checked like the API's.

Forms that change something carry a CSRF token derived from the session token
with a key of this process, and must come from the console's own origin; the
cookie is SameSite=Strict besides.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request, Response

from api.http.deps import services_of
from api.wiring.auth import SESSION_COOKIE, InvalidToken, KeysUnavailable
from api.wiring.settings import Settings
from projections.reads.read_store import Principal

COOKIE = SESSION_COOKIE
COOKIE_PATH = "/"  # the console's pages and the event stream (EventSource sends no header)


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class PageError(Exception):
    """A page that cannot be shown to this caller (403, 404, 400...), as HTML."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def session_principal(request: Request) -> Principal:
    """The signed-in user, verified exactly as the API verifies a bearer token."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired()
    try:
        principal = services_of(request).verifier.verify(token)
    except InvalidToken as error:
        raise SignInRequired(str(error)) from None
    except KeysUnavailable:
        raise PageError(503, "The token signing keys cannot be fetched; try again.") from None
    request.state.user_id = principal.user_id
    return principal


UserDep = Annotated[Principal, Depends(session_principal)]


def admin_principal(principal: UserDep) -> Principal:
    if not principal.admin:
        raise PageError(403, "This page is for admins only.")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]


def csrf_token(key: bytes, request: Request) -> str:
    """Ties a form to the session token: another site cannot know it."""
    token = request.cookies.get(COOKIE, "")
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:40]


def check_post(key: bytes, request: Request, form: dict[str, str]) -> None:
    same_origin(request)
    if not hmac.compare_digest(form.get("csrf", ""), csrf_token(key, request)):
        raise PageError(403, "This form has expired; reload the page and try again.")


def same_origin(request: Request) -> None:
    """A POST must come from a page of this console (when the browser says where from)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    parts = urlsplit(origin)
    if parts.netloc != request.headers.get("host", ""):
        raise PageError(403, "Forms are only accepted from this console's own pages.")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the body limit middleware caps its size)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {
        k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items() if "\x00" not in v[0]
    }


def start_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def dev_sign_in_enabled(settings: Settings) -> bool:
    """Only ever on with the embedded database (whose token secret the app made itself),
    and only while the setting allows it; never with a configured database URL."""
    return settings.database_url is None and settings.ui_dev_sign_in


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this site, nothing else."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        if "\\" not in target and "\x00" not in target:
            return target
    return "/ui/exports"
