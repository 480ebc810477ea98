"""Which policy applies to an export: filters, the moment counted from, the longest wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.exceptions import InvalidExport
from domain.retention.due import ExportFacts, decide
from domain.retention.policies import Basis, Policy, duration_text, parse_duration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def policy(days: int, basis: Basis = Basis.LAST_EVENT, **filters: str | None) -> Policy:
    return Policy(
        policy_id=f"ret_{days}_{basis}",
        after=timedelta(days=days),
        basis=basis,
        format=filters.get("format"),
        status=filters.get("status"),
        set_by="admin",
        set_at=T0,
    )


def facts(**changes: object) -> ExportFacts:
    base: dict[str, object] = {
        "format": "json",
        "status": "completed",
        "expires_at": T0 + timedelta(days=7),
        "completed_at": T0,
        "failed_at": None,
        "last_event_at": T0 + timedelta(days=1),
    }
    base.update(changes)
    return ExportFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "after"),
    [("90d", timedelta(days=90)), ("2w", timedelta(weeks=2)), ("36h", timedelta(hours=36))],
)
def test_durations_parse_and_print_back(text: str, after: timedelta) -> None:
    assert parse_duration(text) == after
    assert duration_text(after) == text


@pytest.mark.parametrize("text", ["", "0d", "90", "d", "-3d", "1.5d", "90m", "10000d", "999999d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidExport, match="after must"):
        parse_duration(text)


def test_no_policy_no_decision() -> None:
    assert decide([], facts()) is None


def test_filters_must_match() -> None:
    assert decide([policy(30, format="csv")], facts()) is None
    assert decide([policy(30, status="failed")], facts()) is None
    found = decide([policy(30, format="json", status="completed")], facts())
    assert found is not None and found.due_at == T0 + timedelta(days=31)


def test_a_moment_that_never_happened_matches_nothing() -> None:
    assert decide([policy(1, Basis.FAILURE)], facts()) is None
    assert decide([policy(1, Basis.EXPIRY)], facts(expires_at=None)) is None


@pytest.mark.parametrize(
    ("basis", "due"),
    [
        (Basis.EXPIRY, T0 + timedelta(days=17)),
        (Basis.COMPLETION, T0 + timedelta(days=10)),
        (Basis.LAST_EVENT, T0 + timedelta(days=11)),
    ],
)
def test_each_basis_counts_from_its_moment(basis: Basis, due: datetime) -> None:
    found = decide([policy(10, basis)], facts())
    assert found is not None and found.due_at == due
    assert found.is_due(due) and not found.is_due(due - timedelta(seconds=1))


policies = st.lists(
    st.builds(
        policy,
        st.integers(min_value=1, max_value=1000),
        st.sampled_from(list(Basis)),
        format=st.sampled_from([None, "json", "csv"]),
        status=st.sampled_from([None, "completed", "failed"]),
    ),
    max_size=8,
    unique_by=lambda p: p.policy_id,  # ids are unique, as the ledger makes them
)


@given(policies)
def test_the_longest_wins(chosen: list[Policy]) -> None:
    """The policy that applies falls due no earlier than any other that matches, and
    the order policies were set in does not change it."""
    export = facts(failed_at=T0 + timedelta(days=2))
    found = decide(chosen, export)
    dues = [
        m + p.after
        for p in chosen
        if (m := export.moment(p.basis)) is not None
        and p.format in (None, "json")
        and p.status in (None, "completed")
    ]
    if not dues:
        assert found is None
        return
    assert found is not None and found.due_at == max(dues)
    again = decide(list(reversed(chosen)), export)
    assert again is not None and again.policy == found.policy
