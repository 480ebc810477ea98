"""kill -9 of ``export-ledger rebuild`` at any moment leaves the live table alone.

Until its last transaction commits, the rebuild only writes its shadow table
(see projections/readmodel/rebuild.py). A killed rebuild may leave a shadow behind; the
next rebuild drops it. The follower is not running here, so nothing but the
rebuild could touch export_logs.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.cli.demo import seed
from domain.ledger.application import ExportLedger
from tests.integration.readmodel_helpers import (
    catch_up,
    head,
    run_cli,
    shadow_tables,
    start_cli,
    wait_backends_gone,
    wait_until,
)

KILLS = 6
MAX_ATTEMPTS = 24  # keep going past KILLS until a kill has landed mid-rebuild


def snapshot(url: str) -> tuple[int, list[tuple[Any, ...]], tuple[Any, ...]]:
    """The live table's oid, its rows in id order, and its tracking row."""
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            oid = conn.execute("SELECT 'export_logs'::regclass::oid").fetchone()
            rows = conn.execute("SELECT * FROM export_logs ORDER BY id").fetchall()
            track = conn.execute(
                "SELECT table_name, position, updated_at FROM read_model_tracking "
                "WHERE table_name = 'export_logs'"
            ).fetchone()
    assert oid is not None and track is not None
    return int(oid[0]), rows, track


def shadows(url: str) -> set[str]:
    """The shadows left by rebuilds; a shadow's history table counts with it."""
    return {
        name.removesuffix("_versions")
        for name in shadow_tables(url)
        if not name.startswith("tracking:")
    }


@pytest.mark.slow
def test_kill_9_of_a_rebuild_leaves_the_live_table_alone(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    rng = random.Random()
    seed(ledger, 1500, rng=random.Random(rng.random()))  # about 6,000 events
    log_head = head(url)
    assert catch_up(url) == log_head
    oid, rows, track = snapshot(url)
    assert len(rows) > 500
    log = tmp_path / "rebuild.log"
    killed_mid_rebuild = 0

    for attempt in range(MAX_ATTEMPTS):
        if attempt >= KILLS and killed_mid_rebuild:
            break
        app = f"el-test-rebuild-{attempt}"
        leftovers = shadows(url)
        proc = start_cli(url, "rebuild", app_name=app, log=log)
        in_rebuild = False
        if attempt % 2:
            # Kill it somewhere in the rebuild proper: load, index, compare, swap.
            def started_or_done(
                proc: subprocess.Popen[bytes] = proc, old: set[str] = leftovers
            ) -> bool:
                return bool(shadows(url) - old) or proc.poll() is not None

            wait_until(started_or_done, timeout=60, interval=0.005)
            in_rebuild = proc.poll() is None
            # A rebuild of this log takes tens of milliseconds: kill early in it.
            time.sleep(rng.uniform(0, 0.03))
        else:
            time.sleep(rng.uniform(0.05, 1.0))  # maybe still starting up or migrating
        finished = proc.poll() is not None
        if not finished:
            proc.kill()  # SIGKILL, this process only
            killed_mid_rebuild += in_rebuild
        code = proc.wait(timeout=30)
        assert finished == (code == 0), log.read_text()
        wait_backends_gone(url, app)
        # A killed rebuild may leave its shadow; the next one drops it before
        # making its own, so they never pile up.
        assert len(shadows(url)) <= 1

        now_oid, now_rows, now_track = snapshot(url)
        assert now_rows == rows, f"attempt {attempt}: the live rows changed"
        assert now_track[:2] == track[:2], f"attempt {attempt}: the tracking position moved"
        if now_oid == oid:
            # Not swapped: the tracking row was not even rewritten.
            assert now_track == track
        else:
            # The swap committed just before the kill (or the run finished): a whole
            # rebuild, which for an unchanged log is the same rows at the same position.
            oid, track = now_oid, now_track

    assert killed_mid_rebuild >= 1, "no kill landed inside a rebuild: nothing was tested"

    done = run_cli(url, "rebuild")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "swapped the rebuilt table in" in done.stdout
    assert f"position {log_head}" in done.stdout
    assert shadow_tables(url) == []
    _, after_rows, after_track = snapshot(url)
    assert after_rows == rows
    assert after_track[:2] == track[:2]

    check = run_cli(url, "rebuild", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "live table matches the events" in check.stdout
    assert shadow_tables(url) == []
