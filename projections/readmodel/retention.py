"""Candidates for a retention run, from the stored events (deleted exports included)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain import topics
from projections.db.database import Database
from sql import statement

_NONE = UUID(int=0)


class StoredRetentionCandidates:
    """Implements the domain's ``RetentionCandidates``: every export whose events hold
    no RetentionApplied yet; the ledger decides on each one's own events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def candidates(self, after: UUID | None, limit: int) -> Sequence[tuple[UUID, bool]]:
        params = {
            "created": [topics.REQUESTED, topics.IMPORTED],
            "applied": topics.RETENTION_APPLIED,
            "after": after or _NONE,
            "limit": limit,
        }
        with self.db.projector(autocommit=True) as conn:
            rows = conn.execute(statement("retention", "candidates"), params).fetchall()
        return [(r[0], bool(r[1])) for r in rows]
