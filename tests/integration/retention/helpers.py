"""Helpers of the retention tests: an export's key row, and a run due long after now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.ledger.retention import RetentionRun
from projections.db.database import Database
from projections.readmodel.retention import StoredRetentionCandidates


def key_row(owner: psycopg.Connection[Any], export_id: str) -> dict[str, Any]:
    row = owner.execute(
        "SELECT key, shed_at FROM export_keys WHERE aggregate_id = %s", (aggregate_id(export_id),)
    ).fetchone()
    assert row is not None
    return dict(row)


def retain_later(ledger: ExportLedger, url: str, **options: Any) -> RetentionRun:
    """A retention run a year after now, over every export of the database."""
    later = datetime.now(UTC) + timedelta(days=365)
    return ledger.retain(StoredRetentionCandidates(Database(url)), now=later, **options)
