"""kill -9 of ``export-ledger project`` at random moments loses and doubles nothing.

The follower writes the rows of a batch and moves its tracking position in one
transaction, so a crash at any moment leaves both or neither; a restarted
follower resumes from the tracking position.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import pytest

from api.cli.demo import seed
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from tests.integration.readmodel_helpers import (
    diff,
    domain_rows,
    folded_rows,
    head,
    live_exports_in_events,
    live_rows,
    live_state,
    random_command,
    start_cli,
    tracking,
    wait_backends_gone,
    wait_until,
)

KILLS = 5
BATCH = "10"  # small batches: many transactions to land a kill between


class Writer(threading.Thread):
    """Runs random commands through the ledger until stopped."""

    def __init__(self, ledger: ExportLedger, seed_value: int) -> None:
        super().__init__(name="writer", daemon=True)
        self.ledger = ledger
        self.rng = random.Random(seed_value)
        self.exports: list[str] = []
        self.commands = 0
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                random_command(self.ledger, self.rng, self.exports)
                self.commands += 1
                time.sleep(self.rng.uniform(0, 0.004))
        except BaseException as error:  # reported by the test
            self.errors.append(error)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the writer thread did not stop"


@pytest.mark.slow
def test_kill_9_of_the_follower_loses_and_doubles_nothing(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    rng = random.Random()
    seed(ledger, 300, rng=random.Random(rng.random()))
    writer = Writer(ledger, rng.randrange(2**32))
    writer.start()
    log = tmp_path / "follower.log"
    positions: list[int] = []
    killed_mid_catch_up = 0
    try:
        for attempt in range(KILLS):
            app = f"el-test-follower-{attempt}"
            start = tracking(url) or 0
            proc = start_cli(url, "project", "--batch-size", BATCH, app_name=app, log=log)
            if attempt % 2:
                # Wait until it is folding, then kill it somewhere in the backlog.
                def folding(start: int = start) -> bool:
                    return (tracking(url) or 0) > start

                wait_until(folding, timeout=30, interval=0.005)
                time.sleep(rng.uniform(0, 0.15))
            else:
                time.sleep(rng.uniform(0.05, 1.5))  # maybe still starting or migrating
            log_head = head(url)
            assert proc.poll() is None, log.read_text()
            proc.kill()  # SIGKILL, this process only
            proc.wait(timeout=10)
            wait_backends_gone(url, app)

            position, rows = live_state(url)
            assert position is not None
            if start < position < log_head:
                killed_mid_catch_up += 1
            positions.append(position)
            # Rows and position moved together: the table is exactly the fold of
            # the events up to the position, no event lost or folded twice.
            assert diff(rows, folded_rows(url, position)) == [], f"after kill {attempt}"
            assert all(r["position"] <= position for r in rows.values())
            # A backlog for the next run to be killed in (the writer goes on too).
            seed(ledger, 100, rng=random.Random(rng.random()))
    finally:
        writer.stop()
    assert writer.errors == []
    assert writer.commands > 0
    assert positions == sorted(positions)
    assert killed_mid_catch_up >= 1, positions

    # A last run, left to catch up, then stopped as an operator would (SIGTERM).
    final_head = head(url)
    proc = start_cli(url, "project", "--batch-size", BATCH, app_name="el-test-final", log=log)
    try:
        wait_until(lambda: tracking(url) == final_head, timeout=60, interval=0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert f"stopped at position {final_head}" in log.read_text()

    rows = live_rows(url)
    assert len(rows) == live_exports_in_events(url)
    assert diff(rows, folded_rows(url, final_head)) == []
    written_by_thread = domain_rows(ledger, writer.exports)
    assert diff({k: rows[k] for k in written_by_thread if k in rows}, written_by_thread) == []
    assert written_by_thread.keys() <= rows.keys()

    report = rebuild(Database(url), swap=False)
    assert report.differences.total == 0, report.differences.examples
    assert report.position == final_head
    assert report.rows == len(rows)
