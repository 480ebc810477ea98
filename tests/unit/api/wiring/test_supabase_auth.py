"""Supabase's tokens: an ``aud`` accepted unless an audience is configured, and the
``role`` claim mapped to the ledger's callers."""

from __future__ import annotations

import time

import jwt
import pytest

from api.wiring.auth import InvalidToken, TokenVerifier
from api.wiring.supabase_auth import supabase_caller
from projections.reads.read_store import Principal

SECRET = "s" * 40


def signed(**claims: object) -> str:
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")


def test_an_aud_is_accepted_unless_an_audience_is_configured() -> None:
    token = signed(sub="u-1", role="authenticated", aud="authenticated")
    assert TokenVerifier(SECRET).verify(token) == Principal("u-1")
    assert TokenVerifier(SECRET, audience="authenticated").verify(token) == Principal("u-1")
    with pytest.raises(InvalidToken, match=r"(?i)audience"):
        TokenVerifier(SECRET, audience="ledger").verify(token)


def test_roles_make_callers() -> None:
    verifier = TokenVerifier(SECRET)
    user = supabase_caller(verifier.claims(signed(sub="u-1", role="authenticated")))
    assert user.principal == Principal("u-1")
    ours = supabase_caller(verifier.claims(signed(sub="u-2")))
    assert ours.principal == Principal("u-2")
    service = supabase_caller(verifier.claims(signed(role="service_role", iss="supabase")))
    assert service.principal == Principal("service_role", admin=True)
    acting = supabase_caller(verifier.claims(signed(role="service_role", sub="ops")))
    assert acting.principal == Principal("ops", admin=True)
    assert supabase_caller(verifier.claims(signed(role="anon"))).principal is None


@pytest.mark.parametrize(
    "claims",
    [{"role": "postgres"}, {"role": "authenticated"}, {}, {"sub": "a\x00b"}, {"sub": 42}],
)
def test_tokens_that_make_no_caller(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        supabase_caller(TokenVerifier(SECRET).claims(signed(**claims)))


def test_a_token_without_sub_is_still_refused_on_the_ledgers_own_routes() -> None:
    with pytest.raises(InvalidToken, match="sub"):
        TokenVerifier(SECRET).verify(signed(role="service_role"))
