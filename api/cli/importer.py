"""``export-ledger import``: the old service's export table into the ledger."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from api.cli.follow import FollowOptions, drop_sync_slot, follow_source
from api.cli.output import err, errors, fail, opened, out
from api.cli.progress import progress_bar
from api.wiring.bootstrap import Runtime
from api.wiring.database import ledger_env
from domain.exceptions import ConfigurationError
from domain.ledger.application import ExportLedger
from domain.sync.rows import SourceRow
from projections.importing.importer import OUTCOMES, EventTableExports, ImportReport, import_table
from projections.importing.parallel import import_in_parallel
from projections.importing.source_table import SourceTable, table_identifier

commands = typer.Typer()

Refuse = Callable[[SourceRow, str], None]
MAX_JOBS = 16


@commands.command("import")
def import_command(
    source: Annotated[
        str,
        typer.Option(
            "--from", metavar="URL", help="PostgreSQL URL of the database that holds the table."
        ),
    ],
    table: Annotated[str, typer.Option(help="The table, or schema.table.")] = "export_logs",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be recorded; record nothing.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", metavar="FILE", help="Write refused rows (JSON lines) here, not to stderr."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Rows per append (one transaction).")
    ] = 1000,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_JOBS, help="Processes that import (default: one per CPU, at most 4)."
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Then follow the table's changes by logical decoding (README)."
        ),
    ] = False,
    slot: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="The replication slot (default export_ledger_TABLE)."),
    ] = None,
    publication: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="An existing publication of the table (default: one the follow creates).",
        ),
    ] = None,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle", help="With --follow: stop once every committed change is recorded."
        ),
    ] = False,
    drop_slot: Annotated[
        bool,
        typer.Option(
            "--drop-slot", help="Drop the follow's slot (and the publication it created)."
        ),
    ] = False,
) -> None:
    """Record every row of the seed's export_logs table as the ledger's events.

    A new export is one Imported event, as its row shows it; a known one records
    only what changed since (a later status, a new expiry), so a re-run records
    nothing for rows that did not change. A row the ledger cannot record (a
    request that changed, a status no legal move reaches) is skipped and listed
    with its reason, on stderr or in --report FILE; the import still exits 0 and
    says how many it refused. Exit 2 when the source cannot be read. --jobs
    processes share one snapshot of the source, each importing the rows of its
    part (by export_id). --follow then records every committed change of the
    table as it happens, until SIGTERM; --drop-slot ends a follow for good.
    """
    with errors():
        table_identifier(table)
    if drop_slot:
        drop_sync_slot(source, table, slot)
        return
    if follow:
        if dry_run:
            fail("--dry-run cannot follow: it records nothing")
        options = FollowOptions(
            source, table, slot, publication, jobs, batch_size, report, until_idle
        )
        follow_source(options, import_rows, refusals)
        return
    with (
        errors(),
        SourceTable(source, table) as rows,
        refusals(report) as refuse,
        opened() as rt,
    ):
        result = import_rows(rt, rows, jobs, batch_size, refuse, dry_run=dry_run)
    _print_report(result, report)


def import_rows(
    rt: Runtime,
    rows: SourceTable,
    jobs: int | None,
    batch_size: int,
    refuse: Refuse,
    *,
    dry_run: bool = False,
    shared_snapshot_required: bool = False,
) -> ImportReport:
    """Every row of the open ``rows`` into the ledger, in ``jobs`` processes sharing its
    snapshot (one process when the source will not share it, unless that is required)."""
    label = f"{'checking' if dry_run else 'importing'} {rows.name}"
    processes = jobs or default_jobs()
    snapshot = rows.export_snapshot() if processes > 1 else None
    if processes > 1 and snapshot is None:
        if shared_snapshot_required:
            raise ConfigurationError(
                "the source cannot share the slot's snapshot with other processes: "
                "give --jobs 1 to import in one process"
            )
        err.print("the source cannot share its snapshot: importing in one process")
    with progress_bar(label, rows.count()) as advance:
        if snapshot is None:
            with EventTableExports(rt.database) as known:
                return import_table(
                    rt.ledger, rows, known,
                    batch_size=batch_size, dry_run=dry_run, on_rows=advance, on_refused=refuse,
                )  # fmt: skip
        opener = partial(_process_ledger, rt.database.url, rt.settings.lock_timeout_seconds)
        return import_in_parallel(
            rows, snapshot, rt.database, opener, jobs=processes,
            batch_size=batch_size, dry_run=dry_run, on_rows=advance, on_refused=refuse,
        )  # fmt: skip


def default_jobs() -> int:
    """One import process per CPU, at most 4 (the database needs CPU too)."""
    return max(1, min(4, os.cpu_count() or 1))


def _process_ledger(url: str, lock_timeout_seconds: int) -> ExportLedger:
    """The ledger of one import process (projections/importing/parallel.py)."""
    return ExportLedger(env=ledger_env(url, pool_size=1, lock_timeout_seconds=lock_timeout_seconds))


@contextmanager
def refusals(report: Path | None) -> Iterator[Refuse]:
    """Where refused rows go: one JSON line each in ``report``, else one line on stderr."""
    if report is None:

        def to_stderr(row: SourceRow, reason: str) -> None:
            err.print(
                f"refused row {row.id} (export {row.export_id}): {reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

        yield to_stderr
        return
    try:
        file = report.open("w", encoding="utf-8")
    except OSError as error:
        fail(f"cannot write the report {report}: {error.strerror}")
    with file:

        def to_file(row: SourceRow, reason: str) -> None:
            line = {"id": row.id, "export_id": row.export_id, "reason": reason}
            file.write(json.dumps(line, ensure_ascii=False) + "\n")

        yield to_file


def _print_report(result: ImportReport, report: Path | None) -> None:
    counts = ", ".join(f"{result.counts[o]:,} {o}" for o in OUTCOMES)
    if result.dry_run:
        out.print(
            f"dry run, nothing recorded: of {result.rows:,} rows of {result.table}, "
            f"would be {counts}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        processes = f", {result.processes} processes" if result.processes > 1 else ""
        out.print(
            f"{result.rows:,} rows of {result.table} in {result.seconds:.1f} s "
            f"({result.rows_per_second:,.0f} rows/s{processes}): {counts}",
            highlight=False,
            soft_wrap=True,
        )
    refused = result.counts["refused"]
    if refused:
        where = f"listed in {report}" if report is not None else "listed above on stderr"
        out.print(f"{refused:,} rows refused and skipped, {where}", highlight=False, soft_wrap=True)
