"""The projector election: of two candidates on one database, one projects; when it
stops (its session ends), the other takes the lock and catches the read table up."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.projector import ElectedProjector, projector_holder
from tests.integration.helpers import request


def _until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _projected(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM export_logs").fetchone()
    return int(row[0]) if row else 0


def test_one_candidate_projects_and_the_other_takes_over(
    database_url: str, ledger: ExportLedger
) -> None:
    first = ElectedProjector(Database(database_url), name="candidate-a").start()
    assert _until(first.leading)
    second = ElectedProjector(Database(database_url), name="candidate-b").start()
    try:
        request(ledger)
        assert _until(lambda: _projected(database_url) == 1)
        assert _until(lambda: second.holder == "candidate-a")  # it sees who holds the lock
        assert not second.leading()
        first.stop()
        assert _until(second.leading)
        request(ledger)
        assert _until(lambda: _projected(database_url) == 2)
        assert _holder(database_url) == "candidate-b"
    finally:
        first.stop()
        second.stop()
    # the server ends a closed session (and frees its lock) just after the client goes
    assert _until(lambda: _holder(database_url) is None)


def _holder(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        return projector_holder(conn)
