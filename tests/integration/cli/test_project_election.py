"""``export-ledger project`` beside elected servers takes part in the projector
election: it projects only while it holds the lock; ``--no-wait`` names the holder and
exits 1; by default it waits until the lock is free, then follows."""

from __future__ import annotations

import signal
from pathlib import Path

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.projector import lock_session, take_projector_lock
from tests.integration.helpers import request
from tests.integration.readmodel_helpers import run_cli, start_cli, tracking, wait_until


def test_no_wait_names_the_holder_and_exits_1(database_url: str) -> None:
    with lock_session(Database(database_url), "other-host:41") as held:
        assert take_projector_lock(held)
        result = run_cli(database_url, "project", "--no-wait")
    assert result.returncode == 1, result.stderr
    assert "the projector lock is held by other-host:41: not projecting" in result.stderr
    assert "Traceback" not in result.stderr


def test_project_waits_for_the_lock_then_follows(
    database_url: str, ledger: ExportLedger, tmp_path: Path
) -> None:
    log = tmp_path / "project.log"
    held = lock_session(Database(database_url), "other-host:42")
    assert take_projector_lock(held)
    proc = start_cli(database_url, "project", "--no-seal", app_name="el-test-wait", log=log)
    try:
        wait_until(
            lambda: "waiting for the projector lock, held by other-host:42" in _text(log), 30
        )
        request(ledger)
        assert not tracking(database_url)  # nothing projected while another holds the lock
        held.close()  # the other projector's session ends, and its lock with it
        wait_until(lambda: "following from position" in _text(log), 30)
        wait_until(lambda: (tracking(database_url) or 0) >= ledger.head_position(), 30)
    finally:
        held.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, _text(log)
    assert "Traceback" not in _text(log)


def _text(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
