"""Idempotent requests: one (user, key) pair makes one export, however often and
however concurrently it is sent; the claim and the export are stored together."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from domain.exceptions import IdempotencyKeyReused
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from tests.integration.helpers import (
    CLAIMED_TOPIC,
    EVENTS_TABLE,
    REQUESTED_TOPIC,
    connect_as,
    count_topic,
    request,
    run_together,
    stored_rows,
)


def test_same_key_twice_gives_the_same_export(ledger: ExportLedger, database_url: str) -> None:
    first = request(ledger, "alice", idempotency_key="k-1")
    again = request(ledger, "alice", idempotency_key="k-1")

    assert again.export_id == first.export_id
    assert again.status == "queued" and again.version == 1
    assert [e.type for e in ledger.history(first.export_id)] == ["Requested"]
    assert count_topic(database_url, REQUESTED_TOPIC) == 1
    assert count_topic(database_url, CLAIMED_TOPIC) == 1
    assert len(stored_rows(database_url)) == 2
    # The claim and the export were appended in one transaction: adjacent positions.
    assert [r["notification_id"] for r in stored_rows(database_url)] == [1, 2]


def test_replay_returns_the_export_as_it_stands_now(ledger: ExportLedger) -> None:
    first = request(ledger, "alice", idempotency_key="k-1")
    ledger.start_processing(first.export_id)
    again = request(ledger, "alice", idempotency_key="k-1")
    assert (again.export_id, again.status, again.version) == (first.export_id, "processing", 2)


def test_different_body_with_the_same_key_is_refused(
    ledger: ExportLedger, database_url: str
) -> None:
    first = request(ledger, "alice", idempotency_key="k-1", conversation_count=3)
    rows = stored_rows(database_url)

    for changed in [
        {"conversation_count": 4},
        {"format": "csv"},
        {"config": {"scope": "filtered"}},
    ]:
        with pytest.raises(IdempotencyKeyReused) as caught:
            request(ledger, "alice", idempotency_key="k-1", **changed)
        assert caught.value.export_id == first.export_id
        assert caught.value.key == "k-1"
    assert stored_rows(database_url) == rows


def test_equivalent_config_is_the_same_body(ledger: ExportLedger) -> None:
    """The fingerprint is of the validated config, so spelling out a default is the same."""
    first = request(ledger, "alice", idempotency_key="k-1", config={})
    again = request(ledger, "alice", idempotency_key="k-1", config={"scope": "all"})
    assert again.export_id == first.export_id


def test_same_key_for_another_user_is_another_export(
    ledger: ExportLedger, database_url: str
) -> None:
    alice = request(ledger, "alice", idempotency_key="k-1")
    bob = request(ledger, "bob", idempotency_key="k-1")

    assert bob.export_id != alice.export_id
    assert (alice.user_id, bob.user_id) == ("alice", "bob")
    assert count_topic(database_url, REQUESTED_TOPIC) == 2
    assert count_topic(database_url, CLAIMED_TOPIC) == 2


def test_without_a_key_every_request_is_new(ledger: ExportLedger, database_url: str) -> None:
    assert request(ledger).export_id != request(ledger).export_id
    assert count_topic(database_url, CLAIMED_TOPIC) == 0


@pytest.mark.parametrize("parties", [2, 8])
def test_same_key_at_once_makes_one_export(
    ledger: ExportLedger,
    open_ledgers: Callable[..., ExportLedger],
    database_url: str,
    parties: int,
) -> None:
    """Several workers, each with its own pool, send the same request at once."""
    workers = [ledger, *(open_ledgers() for _ in range(parties - 1))]
    barrier = threading.Barrier(parties)

    def send(app: ExportLedger) -> ExportState:
        barrier.wait(timeout=10)
        return request(app, "alice", idempotency_key="same-key")

    results = run_together(*(lambda app=app: send(app) for app in workers))

    assert all(isinstance(r, ExportState) for r in results), results
    export_ids = {r.export_id for r in results}
    assert len(export_ids) == 1
    (export_id,) = export_ids
    assert [e.type for e in ledger.history(export_id)] == ["Requested"]
    assert count_topic(database_url, REQUESTED_TOPIC) == 1
    assert count_topic(database_url, CLAIMED_TOPIC) == 1


def test_same_key_different_bodies_at_once(
    ledger: ExportLedger, open_ledgers: Callable[..., ExportLedger], database_url: str
) -> None:
    """One wins; the other is told its key was used for the winner's export."""
    other = open_ledgers()
    barrier = threading.Barrier(2)

    def send(app: ExportLedger, count: int) -> ExportState:
        barrier.wait(timeout=10)
        return request(app, "alice", idempotency_key="k", conversation_count=count)

    results = run_together(lambda: send(ledger, 1), lambda: send(other, 2))

    winners = [r for r in results if isinstance(r, ExportState)]
    refused = [r for r in results if isinstance(r, IdempotencyKeyReused)]
    assert len(winners) == 1 and len(refused) == 1, results
    assert refused[0].export_id == winners[0].export_id
    assert count_topic(database_url, REQUESTED_TOPIC) == 1


def test_claims_keep_no_idempotency_key_in_the_clear(
    ledger: ExportLedger, database_url: str
) -> None:
    first = request(ledger, "alice", idempotency_key="alice-order-4711")
    with connect_as(database_url) as conn:
        states = {
            r["topic"]: bytes(r["state"])
            for r in conn.execute(f"SELECT topic, state FROM {EVENTS_TABLE}").fetchall()
        }
    assert all(b"alice-order-4711" not in state for state in states.values())
    assert b'"keyed":true' in states[CLAIMED_TOPIC]
    again = request(ledger, "alice", idempotency_key="alice-order-4711")
    assert again.export_id == first.export_id
    other = request(ledger, "bob", idempotency_key="alice-order-4711")  # another user's
    assert other.export_id != first.export_id
