"""The auditor role: a token's 'role' claim of 'auditor' makes a read-only auditor."""

from __future__ import annotations

import jwt

from api.wiring.auth import AUDITOR_ROLE, TokenVerifier, issue_token
from projections.reads.read_store import Principal

SECRET = "unit-test-secret-unit-test-secret-0123"


def test_an_auditor_token_makes_an_auditor_not_an_admin() -> None:
    token = issue_token(SECRET, "carol", auditor=True)
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["role"] == AUDITOR_ROLE
    assert TokenVerifier(SECRET).verify(token) == Principal("carol", admin=False, auditor=True)


def test_admin_wins_over_auditor_and_plain_users_are_neither() -> None:
    verifier = TokenVerifier(SECRET)
    both = verifier.verify(issue_token(SECRET, "dave", admin=True, auditor=True))
    assert both == Principal("dave", admin=True, auditor=False)
    assert verifier.verify(issue_token(SECRET, "erin")) == Principal("erin")
