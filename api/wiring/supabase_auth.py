"""Supabase's tokens, as the ledger reads them on its Supabase-compatible surface.

Supabase signs its sessions and API keys with the project's JWT secret (HS256) or its
asymmetric keys (a JWKS URL): :class:`~api.wiring.auth.TokenVerifier` checks both.
The ``role`` claim then says who calls, as PostgREST's roles do:

- ``service_role`` (or the ledger's own ``admin``): an admin, with or without a ``sub``;
- ``authenticated``, or no role with a ``sub`` (the ledger's own tokens): the user ``sub``;
- ``anon`` (the anon API key, which has no ``sub``): nobody, who sees no rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.wiring.auth import ADMIN_ROLE, InvalidToken, valid_user_id
from projections.reads.read_store import Principal

SERVICE_ROLE = "service_role"
AUTHENTICATED = "authenticated"
ANON = "anon"


@dataclass(frozen=True, slots=True)
class SupabaseCaller:
    """Who calls the surface: ``principal`` None is the anonymous role (no rows)."""

    principal: Principal | None
    role: str
    claims: dict[str, Any]


def supabase_caller(claims: dict[str, Any]) -> SupabaseCaller:
    """The caller a verified token's claims make; InvalidToken for a role it cannot be."""
    role = claims.get("role")
    subject = claims.get("sub")
    if subject is not None and (not isinstance(subject, str) or not valid_user_id(subject)):
        raise InvalidToken("the token's 'sub' must be a user id of 1 to 200 printable characters")
    if role in (SERVICE_ROLE, ADMIN_ROLE):
        return SupabaseCaller(Principal(user_id=subject or SERVICE_ROLE, admin=True), role, claims)
    if role == ANON:
        return SupabaseCaller(None, ANON, claims)
    if role in (AUTHENTICATED, None) and subject:
        return SupabaseCaller(Principal(user_id=subject), AUTHENTICATED, claims)
    if role is None:
        raise InvalidToken("the token has neither a 'role' nor a 'sub'")
    raise InvalidToken(f"role {role!r} is not one this server knows")
