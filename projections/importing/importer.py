"""The import of another system's export table into the ledger, batch by batch.

Each batch of source rows is synced as ``ExportLedger.sync_rows`` does: the
exports the batch names are read in one query (:class:`EventTableExports`) and
every event the batch needs is one append, so a crash leaves each export with all
of its row's events or none, and a re-run records only what is still missing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from domain.exceptions import ConcurrentModification
from domain.ledger.application import ExportLedger
from domain.sync.batch import StoredRow, Synced, SyncPlan
from domain.sync.rows import SourceRow
from projections.db.closable import Closable
from projections.db.database import Database
from projections.importing.source_table import SourceTable
from sql import statement

OUTCOMES = ("created", "changed", "unchanged", "refused")


class EventTableExports(Closable):
    """The domain's ``StoredExports`` over the events table: one query per batch,
    on a read-only connection of its own (a context manager)."""

    def __init__(self, db: Database) -> None:
        self._conn = db.projector(autocommit=True)
        self._conn.read_only = True
        self._select = statement("imports", "stored_events_of")

    def stored_events(self, originator_ids: Sequence[UUID]) -> Iterable[StoredRow]:
        with self._conn.cursor(binary=True) as cursor:
            cursor.execute(self._select, {"ids": list(originator_ids)})
            return [(r[0], int(r[1]), str(r[2]), bytes(r[3])) for r in cursor]

    def close(self) -> None:
        self._conn.close()


@dataclass
class ImportReport:
    """How many source rows had each outcome, and how long the import took."""

    table: str
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    processes: int = 1

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def import_table(
    ledger: ExportLedger,
    source: SourceTable,
    known: EventTableExports,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    on_rows: Callable[[int], None] = lambda _: None,
    on_refused: Callable[[SourceRow, str], None] = lambda _row, _reason: None,
) -> ImportReport:
    """Sync every row of ``source`` into ``ledger``; each refused row is passed to
    ``on_refused`` with the reason, each batch's size to ``on_rows``.

    Batches are planned and appended in turn. Planning the next batch in this
    process while a thread appended the last one was slower: both are Python, and
    the database's share of an append is small. Several processes
    (projections/importing/parallel.py) are what overlaps the work.
    """
    report = ImportReport(source.name, dry_run)
    started = time.perf_counter()
    for rows in source.batches(batch_size):
        plan = ledger.plan_rows(rows, known=known)
        results = plan.results if dry_run else _append(ledger, rows, plan, known)
        for row, result in zip(rows, results, strict=True):
            if result.refused is not None:
                report.counts["refused"] += 1
                on_refused(row, result.refused)
            else:
                report.counts[str(result.outcome)] += 1
        on_rows(len(rows))
    report.seconds = time.perf_counter() - started
    return report


def _append(
    ledger: ExportLedger, rows: Sequence[SourceRow], plan: SyncPlan, known: EventTableExports
) -> list[Synced]:
    """The plan appended; when another writer changed one of its exports since it was
    read, the rows synced again on what that writer recorded."""
    try:
        ledger.append_plan(plan)
    except ConcurrentModification:
        return ledger.sync_rows(rows, known=known)
    return plan.results
