"""The in-memory ledger's stored events, as the projection reads them from PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from domain.ledger.application import ExportLedger
from projections.readmodel.changes import Change, decode

StoredRow = tuple[int, UUID | str, int, str, bytes]
"""(notification_id, originator_id, originator_version, topic, state): the
columns ``events_after`` selects."""


@pytest.fixture
def stored_rows(ledger: ExportLedger) -> Callable[[], list[StoredRow]]:
    """Every event the ledger has stored so far, in log order."""

    def rows() -> list[StoredRow]:
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in ledger.recorder.select_notifications(start=1, limit=10_000)
        ]

    return rows


@pytest.fixture
def stored_changes(
    ledger: ExportLedger, stored_rows: Callable[[], list[StoredRow]]
) -> Callable[[], list[Change]]:
    """The stored events of exports, decoded with the ledger's subject keys (other
    aggregates' left out)."""

    def changes() -> list[Change]:
        rows = stored_rows()
        return [c for row in rows if (c := decode(row, ledger.subject_keys)) is not None]

    return changes
