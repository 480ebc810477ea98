"""Rebuilds swap a new export_logs in under a running follower while commands are
written: the follower pauses on the tracking row, resumes on the new table from
the swapped-in position, and nothing is lost or folded twice."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from api.cli.demo import seed
from domain.exceptions import RebuildInProgress
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.follower import Follower
from projections.readmodel.rebuild import _REBUILD_LOCK, rebuild
from projections.reads.positions import PositionWatcher
from tests.integration.readmodel_helpers import (
    diff,
    domain_rows,
    folded_rows,
    head,
    live_exports_in_events,
    live_rows,
    random_command,
    run_cli,
    shadow_tables,
    tracking,
)


@pytest.mark.slow
def test_rebuilds_under_a_running_follower_and_writers(
    ledger: ExportLedger, database_url: str
) -> None:
    url = database_url
    seed(ledger, 500, rng=random.Random(3))
    follower = Follower(Database(url), batch_size=50)
    errors: list[BaseException] = []
    stopping = threading.Event()
    mine: list[str] = []

    def follow() -> None:
        try:
            follower.run()
        except BaseException as error:
            errors.append(error)

    def write() -> None:
        rng = random.Random()
        try:
            while not stopping.is_set():
                random_command(ledger, rng, mine)
                time.sleep(0.002)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=follow), threading.Thread(target=write)]
    watcher = PositionWatcher(Database(url)).start()
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            report = rebuild(Database(url))
            assert report.swapped
            # The follower had folded the same events the same way.
            assert report.differences.total == 0, report.differences.examples
            time.sleep(0.1)
    finally:
        stopping.set()
        threads[1].join(timeout=30)
    try:
        final = head(url)
        assert watcher.wait_for(final, timeout=30), (watcher.position, final)
    finally:
        watcher.stop()
        follower.stop()
        threads[0].join(timeout=10)
    assert errors == []
    assert tracking(url) == final
    rows = live_rows(url)
    assert diff(rows, folded_rows(url, final)) == []
    expected = domain_rows(ledger, mine)
    assert diff({k: rows[k] for k in expected if k in rows}, expected) == []
    assert expected.keys() <= rows.keys()
    assert len(rows) == live_exports_in_events(url)
    assert shadow_tables(url) == []


def test_one_rebuild_at_a_time(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (_REBUILD_LOCK,))
        with pytest.raises(RebuildInProgress):
            rebuild(Database(database_url))
        result = run_cli(database_url, "rebuild", "--check")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "another rebuild" in result.stderr
        # Unlock explicitly: a closed session's locks go only when its server
        # process has exited, which may be a moment after the client closed.
        other.execute("SELECT pg_advisory_unlock(%s)", (_REBUILD_LOCK,))
    assert rebuild(Database(database_url)).swapped
    assert shadow_tables(database_url) == []


def test_rebuilding_an_empty_log(database_url: str) -> None:
    report = rebuild(Database(database_url), swap=False)
    assert (report.events, report.rows, report.position) == (0, 0, 0)
    assert report.differences.total == 0
    result = run_cli(database_url, "rebuild")
    assert result.returncode == 0, result.stdout + result.stderr
    assert tracking(database_url) == 0
    assert live_rows(database_url) == {}
