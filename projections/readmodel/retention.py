"""Candidates for a retention run, from the stored events (deleted exports included),
and the projector's periodic run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain import topics
from domain.retention.due import OLD_FORMAT, Checked
from projections.db.database import Database
from sql import statement

_NONE = UUID(int=0)
log = logging.getLogger("export_ledger.retention")


class StoredRetentionCandidates:
    """Implements the domain's ``RetentionCandidates``: every export whose events hold
    no RetentionApplied yet; the ledger decides on each one's own events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def candidates(
        self, after: UUID | None, limit: int, *, policies_version: int, now: datetime
    ) -> Sequence[tuple[UUID, bool]]:
        params = {
            "created": [topics.REQUESTED, topics.IMPORTED],
            "applied": topics.RETENTION_APPLIED,
            "after": after or _NONE,
            "limit": limit,
            "policies": policies_version,
            "now": now,
        }
        with self.db.projector(autocommit=True) as conn:
            rows = conn.execute(statement("retention", "candidates"), params).fetchall()
        return [(r[0], bool(r[1])) for r in rows]

    def stored_events(self, originator_ids: Sequence[UUID]) -> list[tuple[UUID, int, str, bytes]]:
        with self.db.projector(autocommit=True) as conn, conn.cursor(binary=True) as cursor:
            cursor.execute(statement("retention", "events_of"), {"ids": list(originator_ids)})
            return [(r[0], int(r[1]), str(r[2]), bytes(r[3])) for r in cursor]

    def remember(self, checked: Sequence[Checked], policies_version: int) -> None:
        params = {
            "ids": [c.originator_id for c in checked],
            "versions": [c.version for c in checked],
            "due": [c.due_at for c in checked],
            "policies": policies_version,
        }
        with self.db.projector(autocommit=True) as conn:
            conn.execute(statement("retention", "remember_checked"), params)


def retention_summary(conn: psycopg.Connection[Any]) -> str | None:
    """What ``verify`` says of retention: the exports shed, and how many of them were
    sealed before export keys (README: Retention); None when none was shed."""
    row = conn.execute(
        statement("retention", "shed_counts"), {"applied": topics.RETENTION_APPLIED}
    ).fetchone()
    shed, old = (int(row[0]), int(row[1])) if row else (0, 0)
    if not shed:
        return None
    left = f"; {old:,} of them sealed before export keys: {OLD_FORMAT}" if old else ""
    return f"{shed:,} exports shed by retention{left}"


class RetentionJob:
    """The projector's periodic retention run (a worker of projections/projector.py):
    ``retain`` once at the start and then every ``every`` seconds, until stopped. Only
    the projector runs it, so of several elected processes only the lock holder does;
    a second run at the same time would only find the first one's work done."""

    def __init__(self, retain: Callable[[], Any], every: float) -> None:
        self.retain = retain
        self.every = every
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            done = self.retain()
            if done.applied or done.held:
                log.info(
                    "retention: shed %d exports (%d sealed before export keys), "
                    "skipped %d under legal hold",
                    len(done.applied), done.old_format, len(done.held),
                )  # fmt: skip
            self._stopping.wait(self.every)

    def stop(self) -> None:
        self._stopping.set()
