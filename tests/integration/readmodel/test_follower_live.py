"""The live follower (LISTEN/NOTIFY) and read-your-writes waits with PositionWatcher."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.follower import Follower
from projections.reads.positions import PositionWatcher
from sql.names import READER_ROLE
from tests.integration.readmodel_helpers import (
    complete,
    diff,
    domain_rows,
    head,
    live_rows,
    request,
    rows_by_export_id,
    tracking,
)


@dataclass
class Running:
    follower: Follower
    thread: threading.Thread
    watcher: PositionWatcher
    batches: list[tuple[int, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture
def live(database_url: str) -> Iterator[Running]:
    """A Follower running in a thread, and a PositionWatcher; both stopped after."""
    follower = Follower(Database(database_url))
    running = Running(follower, threading.Thread(), PositionWatcher(Database(database_url)))

    def run() -> None:
        try:
            follower.run(lambda n, p: running.batches.append((n, p)))
        except BaseException as error:
            running.errors.append(error)

    running.thread = threading.Thread(target=run, name="follower", daemon=True)
    running.thread.start()
    running.watcher.start()
    try:
        yield running
    finally:
        running.watcher.stop()
        follower.stop()
        running.thread.join(timeout=10)
    assert running.errors == []


def timed_wait(watcher: PositionWatcher, position: int | None, timeout: float = 5) -> float:
    assert position is not None
    started = time.monotonic()
    assert watcher.wait_for(position, timeout=timeout)
    return time.monotonic() - started


def test_a_command_is_readable_as_soon_as_wait_for_returns(
    ledger: ExportLedger, live: Running, database_url: str
) -> None:
    export_id = request(ledger, "A")
    waits = []
    for command in ("start", "complete", "download"):
        if command == "start":
            state = ledger.start_processing(export_id)
        elif command == "complete":
            state = ledger.complete(export_id, file_size=10, file_url="s3://f")
        else:
            state = ledger.record_download(export_id, actor="A")
        waits.append(timed_wait(live.watcher, state.position))
        # Read your write: the row is there, with the new status, right now,
        # even for the user under row-level security.
        with psycopg.connect(database_url, options=f"-c role={READER_ROLE}") as conn:
            conn.execute("SELECT set_config('export_ledger.user_id', 'A', true)")
            row = conn.execute(
                "SELECT status, version, position FROM export_logs WHERE export_id = %s",
                (export_id,),
            ).fetchone()
        assert row == (state.status, state.version, state.position)
    # Woken by notifications, not by the one-second safety net.
    assert max(waits) < 2.0, waits
    assert statistics.median(waits) < 0.5, waits
    assert live.follower.status().lag == 0


def test_wait_for_a_position_never_reached_times_out(
    ledger: ExportLedger, live: Running, database_url: str
) -> None:
    state = ledger.request_export(user_id="A", format="csv", config={}, conversation_count=1)
    timed_wait(live.watcher, state.position)
    started = time.monotonic()
    assert live.watcher.wait_for(head(database_url) + 1000, timeout=0.5) is False
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5
    assert live.watcher.position == state.position
    assert live.watcher.wait_for(state.position, timeout=0)  # reached: no wait at all


def test_a_burst_of_commands_is_folded_in_batches(
    ledger: ExportLedger, live: Running, database_url: str
) -> None:
    exports = [request(ledger, f"user-{n % 3}") for n in range(30)]
    for export_id in exports[:10]:
        complete(ledger, export_id)
    for export_id in exports[10:13]:
        ledger.delete(export_id, actor="admin")
    timed_wait(live.watcher, head(database_url))
    assert diff(live_rows(database_url), domain_rows(ledger, exports)) == []
    assert live.batches, "on_batch was never called"
    assert live.batches[-1][1] == head(database_url)
    assert sum(n for n, _ in live.batches) == head(database_url)


def test_a_deleted_export_leaves_the_table_but_keeps_its_history(
    ledger: ExportLedger, live: Running, database_url: str
) -> None:
    export_id = request(ledger, "A")
    complete(ledger, export_id)
    kept = request(ledger, "A")
    state = ledger.delete(export_id, actor="admin", reason="user asked")
    timed_wait(live.watcher, state.position)

    rows = rows_by_export_id(database_url)
    assert export_id not in rows
    assert kept in rows
    history = ledger.history(export_id)
    assert [e.type for e in history] == ["Requested", "ProcessingStarted", "Completed", "Deleted"]
    assert history[-1].position == state.position
    assert history[-1].actor == "admin"
    assert history[-1].data["reason"] == "user asked"
    assert ledger.get(export_id).status == "deleted"


def test_stop_stops_the_follower_promptly(
    ledger: ExportLedger, live: Running, database_url: str
) -> None:
    state = ledger.request_export(user_id="A", format="csv", config={}, conversation_count=1)
    timed_wait(live.watcher, state.position)
    time.sleep(0.2)  # idle, waiting for a notification
    started = time.monotonic()
    live.follower.stop()
    live.thread.join(timeout=5)
    assert not live.thread.is_alive()
    assert time.monotonic() - started < 2.0  # at most the one-second safety net
    # Stopped: new events stay unfolded until a follower runs again.
    later = ledger.request_export(user_id="A", format="csv", config={}, conversation_count=1)
    time.sleep(0.3)
    assert tracking(database_url) == state.position
    assert later.export_id not in rows_by_export_id(database_url)
    assert live.watcher.wait_for(later.position or 0, timeout=0.3) is False
