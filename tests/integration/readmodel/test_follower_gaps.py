"""Gaps in notification ids: the follower steps over them and never misses an event.

Why a gap can never be filled later (projections/readmodel/follower.py, migration 0002):
a notification id is drawn from a sequence when an event row is inserted, and
a transaction that rolls back (a conflicting save, an idempotent replay that
collides with its claim, any error) leaves its ids unused for ever: a sequence
never hands out a number twice. The danger would be a *slow* gap: a transaction
holding a lower id that commits after a higher id is already visible, after the
follower (or a rebuild's snapshot) moved past it. Every writer takes an
EXCLUSIVE lock on the events table (``export_ledger_lock_events()``) before it
draws ids and keeps it until commit or rollback, so no other writer can draw,
let alone commit, a higher id meanwhile. Hence once the follower sees id N+1,
every id up to N is final: committed, or gone for good, and a gap it steps over
stays a gap.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from api.wiring.database import open_ledger
from domain.exports.ids import aggregate_id
from domain.exports.model import ExportLog
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from sql.names import WRITER_ROLE
from tests.integration.readmodel_helpers import (
    EVENTS_TABLE,
    catch_up,
    diff,
    domain_rows,
    head,
    live_rows,
    request,
    tracking,
)

SEQUENCE = f"{EVENTS_TABLE}_notification_id_seq"


def notification_ids(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT notification_id FROM {EVENTS_TABLE} ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def unused_ids(url: str) -> list[int]:
    """Ids the sequence handed out that no stored event has (up to its last value)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT last_value, is_called FROM {SEQUENCE}").fetchone()
    assert row is not None
    drawn = row[0] if row[1] else 0
    return sorted(set(range(1, drawn + 1)) - set(notification_ids(url)))


def burn_ids(url: str, n: int) -> None:
    """Use up ``n`` notification ids, as rolled-back inserts do (as the owner)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (SEQUENCE, n))


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_the_follower_steps_over_burnt_ids(
    ledger: ExportLedger, database_url: str, batch_size: int
) -> None:
    url = database_url
    first = request(ledger, "A")
    assert catch_up(url, batch_size) == head(url)
    burn_ids(url, 5)
    second = request(ledger, "B")
    ledger.start_processing(first)
    burn_ids(url, 3)
    ledger.start_processing(second)
    burn_ids(url, 2)  # a gap at the head too

    assert len(unused_ids(url)) == 10
    assert catch_up(url, batch_size) == head(url) == tracking(url)
    assert diff(live_rows(url), domain_rows(ledger, [first, second])) == []
    # Nothing new is found later, however often it looks.
    assert catch_up(url, batch_size) == head(url)


def test_rolled_back_saves_leave_gaps_the_follower_passes(
    ledger: ExportLedger, database_url: str
) -> None:
    """Two gaps made through the ledger's own recorder: an idempotent replay (its
    export's insert collides with the claim and rolls back) and a lost race
    between two application instances saving the same version."""
    url = database_url
    key_body: dict[str, Any] = {"format": "json", "config": {}, "conversation_count": 1}
    original = ledger.request_export(user_id="A", idempotency_key="k", **key_body)
    replay = ledger.request_export(user_id="A", idempotency_key="k", **key_body)
    assert replay.export_id == original.export_id
    replay_gaps = unused_ids(url)
    assert replay_gaps, "the replay drew no ids"

    other = open_ledger(Database(url))
    try:
        # Both load version 1; the second save of a version 2 collides and rolls back.
        mine: ExportLog = ledger.repository.get(aggregate_id(original.export_id))
        theirs: ExportLog = other.repository.get(aggregate_id(original.export_id))
        mine.start_processing("worker-1")
        ledger.save(mine)
        theirs.start_processing("worker-2")
        with pytest.raises(IntegrityError):
            other.save(theirs)
    finally:
        other.close()
    assert len(unused_ids(url)) > len(replay_gaps), "the lost race drew no id"

    later = request(ledger, "B")
    assert catch_up(url, batch_size=1) == head(url)
    assert diff(live_rows(url), domain_rows(ledger, [original.export_id, later])) == []
    assert ledger.get(original.export_id).status == "processing"


def test_no_higher_id_commits_while_a_lower_one_is_open(
    ledger: ExportLedger, database_url: str
) -> None:
    """Why the follower may step over a gap: a writer holding id N blocks every
    other writer until it ends, so N is final before N+1 can exist."""
    url = database_url
    first = request(ledger, "A")
    catch_up(url)
    done = threading.Event()
    result: dict[str, Any] = {}

    def write() -> None:
        try:
            result["state"] = ledger.request_export(
                user_id="B", format="csv", config={}, conversation_count=1
            )
        except BaseException as error:
            result["error"] = error
        done.set()

    with psycopg.connect(url, options=f"-c role={WRITER_ROLE}") as slow:
        slow.execute("SELECT export_ledger_lock_events()")
        row = slow.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, 'tests:Probe', '{}') RETURNING notification_id",
            (uuid.uuid4(),),
        ).fetchone()
        assert row is not None
        held = int(row[0])
        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        time.sleep(0.5)
        # The other writer waits; the follower sees nothing past the open id.
        assert not done.is_set()
        assert catch_up(url) == held - 1 == head(url)
        slow.rollback()
    thread.join(timeout=15)
    assert "error" not in result, result
    state = result["state"]
    assert state.position > held
    assert held not in notification_ids(url)  # gone for good
    assert catch_up(url) == state.position
    assert diff(live_rows(url), domain_rows(ledger, [first, state.export_id])) == []
