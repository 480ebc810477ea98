"""A retention's read-table update: the versions stored before RetentionApplied, and
the snapshots ``rebuild --as-of --into`` made (an erasure's update erases those too:
projections/readmodel/store.py's ``erase_rows``).

The fold (projections/readmodel/fold.py) sheds the row and the versions it makes
itself; the versions of earlier batches are in the history table already, and are
shed here, in the same transaction as the fold of RetentionApplied, with the values
the fold writes (:func:`domain.privacy.shed_value`; a NULL stays NULL, and an erased
subject's versions stay erased, as :func:`projections.readmodel.fold.shed_row` leaves them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.privacy import ERASED_PREFIX, shed_value
from projections.readmodel.changes import Change
from projections.readmodel.fold import RETENTION_APPLIED
from sql import statement
from sql.names import VERSIONS_TABLE


def shed_versions(conn: psycopg.Connection[Any], history: str, changes: Sequence[Change]) -> None:
    """Shed every stored version of the exports a RetentionApplied in ``changes`` names."""
    ids = list({c.aggregate_id for c in changes if c.type == RETENTION_APPLIED})
    if not ids:
        return
    params = {
        "ids": ids,
        "config": Jsonb(shed_value("config")),
        "file_url": shed_value("file_url"),
        "error_message": shed_value("error_message"),
        "erased": ERASED_PREFIX + "%",
    }
    conn.execute(statement("retention", "shed_versions", table=history), params)
    if history == VERSIONS_TABLE:  # the live tables: the snapshots made of them too
        for name in snapshot_tables(conn):
            conn.execute(statement("retention", "shed_versions", table=name), params)


def snapshot_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """The tables ``rebuild --as-of --into`` made that still exist (tracked in
    read_model_snapshots): a retention sheds their rows, an erasure erases them."""
    rows = conn.execute(statement("retention", "tracked_snapshots")).fetchall()
    return [str(r[0]) for r in rows]
