"""A user's strong list waits only for the unprojected events that concern the user
(domain/ledger/reads.py: last_position_concerning), found by the subject pseudonym."""

from __future__ import annotations

from domain.ledger.application import ExportLedger
from domain.ledger.reads import TAIL_LIMIT
from projections.db.database import Database
from projections.subject_keys import ReadModelSubjects
from tests.integration.readmodel_helpers import catch_up, complete, request


def test_the_latest_event_of_a_users_own_exports_is_found(ledger: ExportLedger) -> None:
    start = ledger.head_position()
    alices = request(ledger, "alice")
    alice_requested = ledger.head_position()
    request(ledger, "bob")
    bob_requested = ledger.head_position()
    alice_completed = complete(ledger, alices)
    request(ledger, "bob")
    head = ledger.head_position()

    assert ledger.last_position_concerning("alice", start, head) == alice_completed
    assert ledger.last_position_concerning("bob", start, head) == head
    assert ledger.last_position_concerning("carol", start, head) == 0
    # A first export whose Requested event is all there is of it still counts.
    assert ledger.last_position_concerning("alice", start, alice_requested) == alice_requested
    assert ledger.last_position_concerning("alice", alice_requested, bob_requested) == 0
    assert ledger.last_position_concerning("alice", head, head) == 0


def test_an_erasure_concerns_its_subject_only(ledger: ExportLedger, database_url: str) -> None:
    request(ledger, "alice")
    request(ledger, "bob")
    catch_up(database_url)
    start = ledger.head_position()
    ledger.erase_subject(
        "bob", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    head = ledger.head_position()
    assert head > start
    assert ledger.last_position_concerning("bob", start, head) == head
    assert ledger.last_position_concerning("alice", start, head) == 0


def test_a_tail_too_long_to_read_is_waited_for_whole(ledger: ExportLedger) -> None:
    assert ledger.last_position_concerning("alice", 0, TAIL_LIMIT + 1) == TAIL_LIMIT + 1
