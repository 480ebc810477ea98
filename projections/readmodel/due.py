"""Candidates for the expiry job, from the read table's expires_at index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from projections.db.database import Database
from sql import statement


class ReadModelDueExports:
    """Implements the domain's ``DueExportFinder`` over export_logs.

    The read table may lag the events; that only delays an expiry to the
    next run, because the application re-checks each candidate's events.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def find_due(self, now: datetime, after: str | None, limit: int) -> Sequence[str]:
        with self.db.projector(autocommit=True) as conn:
            rows = conn.execute(
                statement("read_model", "due_exports"),
                {"now": now, "after": after or "", "limit": limit},
            ).fetchall()
        return [str(r[0]) for r in rows]
