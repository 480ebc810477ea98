"""The import in several processes: one snapshot of the source, its rows split by export.

Why processes: the import is bound by Python CPU per row (checking the row, building
its events, sealing their personal fields), and threads share one interpreter. Each
process runs :func:`projections.importing.importer.import_table` on a part of the source, so
there is one way to import a row, whatever the number of processes.

Why the result is the one a single process would record:

- Every process reads the source in the same snapshot (exported by the parent's
  reader, shared by each process's reader), and each reads the rows of one part:
  together they read every row of that snapshot exactly once.
- The parts are split by a hash of ``export_id``, so all the rows of one export are
  planned by one process, in the order one reader would read them, and no two
  processes ever plan events for the same export.
- Each batch is still one append under the events lock, so positions follow commit
  order and a crash leaves every export with all of its row's events or none.

A process stops before its next batch once its parent is gone (kill -9 of the
command), so an interrupted import leaves whole exports and a re-run finishes it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

from domain.exceptions import ConfigurationError, ExportLedgerError, StoreUnavailable
from domain.ledger.application import ExportLedger
from domain.sync.rows import SourceRow
from projections.db.database import Database
from projections.importing.importer import EventTableExports, ImportReport, import_table
from projections.importing.source_table import SourceTable

LedgerOpener = Callable[[], ExportLedger]
"""Opens a process's own ledger (a module-level function or a partial of one: it is
sent to the process)."""


@dataclass(frozen=True)
class Part:
    """What one process imports: its part of the source, in the shared snapshot."""

    source_url: str
    table: str
    snapshot: str
    index: int
    parts: int
    ledger: Database
    batch_size: int
    dry_run: bool


class ParentGone(Exception):
    """The command that started this process is gone: stop before the next batch."""


def import_in_parallel(
    source: SourceTable,
    snapshot: str,
    ledger_db: Database,
    open_ledger: LedgerOpener,
    *,
    jobs: int,
    batch_size: int = 1000,
    dry_run: bool = False,
    on_rows: Callable[[int], None] = lambda _: None,
    on_refused: Callable[[SourceRow, str], None] = lambda _row, _reason: None,
) -> ImportReport:
    """``import_table`` of ``source`` in ``jobs`` processes that share its ``snapshot``
    (``source`` stays open meanwhile); their counts added up. The time is from the
    first process's start of reading to the last one's end, as ``import_table``
    measures its own."""
    context = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    parts = [
        Part(source.url, source.name, snapshot, k, jobs, ledger_db, batch_size, dry_run)
        for k in range(jobs)
    ]
    workers = [
        context.Process(target=_run_part, args=(part, open_ledger, messages), daemon=True)
        for part in parts
    ]
    for worker in workers:
        worker.start()
    report = ImportReport(source.name, dry_run, processes=jobs)
    try:
        _collect(workers, messages, report, on_rows, on_refused)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # an unfinished batch rolls back as a whole
            worker.join()
    return report


def _collect(
    workers: list[SpawnProcess],
    messages: multiprocessing.Queue[tuple[Any, ...]],
    report: ImportReport,
    on_rows: Callable[[int], None],
    on_refused: Callable[[SourceRow, str], None],
) -> None:
    """Read the processes' messages until each has said it is done; raise the first
    failure (the others are then stopped by the caller)."""
    started: float | None = None
    finished = 0
    while finished < len(workers):
        try:
            kind, *rest = messages.get(timeout=0.5)
        except queue.Empty:
            _check_alive(workers)
            continue
        if kind == "started":
            started = started if started is not None else time.perf_counter()
        elif kind == "rows":
            on_rows(rest[0])
        elif kind == "refused":
            on_refused(rest[0], rest[1])
        elif kind == "done":
            report.counts.update(rest[0])
            finished += 1
        else:  # "failed": the process's error, in the words it was raised with
            unavailable, message = rest
            raise (StoreUnavailable if unavailable else ConfigurationError)(message)
    report.seconds = time.perf_counter() - (started or time.perf_counter())


def _check_alive(workers: list[SpawnProcess]) -> None:
    for worker in workers:
        if worker.exitcode not in (None, 0):
            raise StoreUnavailable(f"an import process ended with exit code {worker.exitcode}")


def _run_part(
    part: Part, open_ledger: LedgerOpener, messages: multiprocessing.Queue[tuple[Any, ...]]
) -> None:
    """One process's import of its part; every outcome goes to ``messages``."""
    parent = os.getppid()

    def rows_done(count: int) -> None:
        if os.getppid() != parent:
            raise ParentGone
        messages.put(("rows", count))

    try:
        ledger = open_ledger()
        try:
            with (
                SourceTable(
                    part.source_url, part.table, snapshot=part.snapshot,
                    part=(part.index, part.parts),
                ) as source,
                EventTableExports(part.ledger) as known,
            ):  # fmt: skip
                messages.put(("started",))
                result = import_table(
                    ledger,
                    source,
                    known,
                    batch_size=part.batch_size,
                    dry_run=part.dry_run,
                    on_rows=rows_done,
                    on_refused=lambda row, reason: messages.put(("refused", row, reason)),
                )
        finally:
            ledger.close()
    except (ParentGone, KeyboardInterrupt):
        messages.cancel_join_thread()  # nobody reads what is left: exit without it
        return
    except ExportLedgerError as error:
        messages.put(("failed", isinstance(error, StoreUnavailable), str(error)))
        return
    messages.put(("done", dict(result.counts)))
