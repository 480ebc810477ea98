"""Tokens shaped as Supabase issues them, signed with the tests' secret: a user's
session (role authenticated), and the project's anon and service-role API keys."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from tests.e2e.helpers import SECRET


def supabase_jwt(secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "supabase", "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def session_token(user_id: str, secret: str = SECRET) -> str:
    """A signed-in user's access token, as Supabase's auth signs it."""
    return supabase_jwt(
        secret,
        sub=user_id,
        aud="authenticated",
        role="authenticated",
        email=f"{user_id[:8]}@example.com",
        session_id=str(uuid.uuid4()),
        app_metadata={"provider": "email", "providers": ["email"]},
        user_metadata={},
    )


def anon_key(secret: str = SECRET) -> str:
    return supabase_jwt(secret, ref="ledger", role="anon")


def service_role_key(secret: str = SECRET) -> str:
    return supabase_jwt(secret, ref="ledger", role="service_role")


def headers(token: str, key: str | None = None) -> dict[str, str]:
    """What supabase-js sends: the API key, and the session (or the key) as the bearer."""
    return {"apikey": key or token, "Authorization": f"Bearer {token}"}
