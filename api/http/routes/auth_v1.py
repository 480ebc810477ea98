"""/auth/v1: what supabase-js's auth client asks of the ledger, in GoTrue's shapes.

``auth.getUser()`` sends ``GET /auth/v1/user`` with the session's token: the user is
the token's ``sub``, with the claims Supabase puts in its tokens. The ledger issues no
sessions (Supabase's auth does): every other path is a JSON 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.http.deps import services_of
from api.wiring.auth import InvalidToken, KeysUnavailable
from api.wiring.supabase_auth import supabase_caller

router = APIRouter(prefix="/auth/v1", include_in_schema=False)


def gotrue_error(status: int, error_code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "error_code": error_code, "msg": message}, status)


@router.get("/user")
async def current_user(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return gotrue_error(401, "no_authorization", "This endpoint requires a Bearer token")
    verifier = services_of(request).verifier
    try:
        if verifier.may_block:
            claims = await run_in_threadpool(verifier.claims, token.strip())
        else:
            claims = verifier.claims(token.strip())
        supabase_caller(claims)
    except InvalidToken as error:
        return gotrue_error(
            403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {error}"
        )
    except KeysUnavailable:
        return gotrue_error(503, "unexpected_failure", "the token signing keys cannot be fetched")
    if not claims.get("sub"):
        return gotrue_error(403, "bad_jwt", "invalid claim: missing sub claim")
    return JSONResponse(user_of(claims))


def user_of(claims: dict[str, Any]) -> dict[str, Any]:
    """A GoTrue user object of what the token says (the ledger keeps no user table)."""
    issued = claims.get("iat")
    when = (
        datetime.fromtimestamp(float(issued), UTC).isoformat()
        if isinstance(issued, int | float)
        else None
    )
    return {
        "id": claims["sub"],
        "aud": claims.get("aud") or "authenticated",
        "role": claims.get("role") or "authenticated",
        "email": claims.get("email") or "",
        "phone": claims.get("phone") or "",
        "app_metadata": claims.get("app_metadata") or {},
        "user_metadata": claims.get("user_metadata") or {},
        "identities": [],
        "is_anonymous": bool(claims.get("is_anonymous", False)),
        "created_at": when,
        "updated_at": when,
    }


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def unknown(path: str) -> JSONResponse:
    return gotrue_error(404, "not_found", f"no such endpoint: /auth/v1/{path}")
