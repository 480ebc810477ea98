"""Token checks: a verified token is remembered only until it expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from api.wiring import auth
from api.wiring.auth import InvalidToken, TokenVerifier, issue_token
from projections.reads.read_store import Principal

SECRET = "unit-test-secret-unit-test-secret-0123"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(SECRET)
    token = issue_token(SECRET, "alice", ttl=timedelta(minutes=5))
    assert verifier.verify(token) == Principal("alice")
    assert verifier.verify(token) == Principal("alice")  # from what was checked before
    later = time.time() + 5 * 60 + 31  # past the expiry and its 30 s leeway
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_a_refused_token_is_refused_every_time() -> None:
    verifier = TokenVerifier(SECRET)
    forged = issue_token("another-secret-another-secret-0123456", "mallory", admin=True)
    for _ in range(2):
        with pytest.raises(InvalidToken, match="invalid token"):
            verifier.verify(forged)


def test_what_one_verifier_accepted_another_still_checks() -> None:
    token = issue_token(SECRET, "alice")
    assert TokenVerifier(SECRET).verify(token) == Principal("alice")
    with pytest.raises(InvalidToken):
        TokenVerifier("a-different-secret-a-different-secret-01").verify(token)


def test_an_expired_token_is_refused_the_first_time() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(SECRET, "alice", ttl=timedelta(hours=1), now=issued)
    with pytest.raises(InvalidToken, match="expired"):
        TokenVerifier(SECRET).verify(token)
