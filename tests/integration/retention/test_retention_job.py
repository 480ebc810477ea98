"""The projector's periodic retention run sheds exports past their policy."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.projector import Projector
from projections.readmodel.retention import RetentionJob, StoredRetentionCandidates
from tests.integration.helpers import complete, request


def test_the_projector_runs_retention(ledger: ExportLedger, database_url: str) -> None:
    export_id = request(ledger).export_id
    complete(ledger, export_id, expires_at=datetime.now(UTC) - timedelta(hours=2))
    ledger.set_retention(after="1h", basis="expiry", actor="admin")
    db = Database(database_url)
    runs: list[int] = []

    def retain() -> object:
        done = ledger.retain(StoredRetentionCandidates(db))
        runs.append(len(done.applied))
        return done

    projector = Projector(db, retention=lambda: RetentionJob(retain, 3600)).start()
    try:
        deadline = time.monotonic() + 60
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        projector.stop()
    assert runs == [1]
    assert ledger.shed_by(export_id) is not None
