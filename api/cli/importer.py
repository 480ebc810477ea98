"""``export-ledger import``: the old service's export table into the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from api.cli.output import err, errors, fail, opened, out
from api.cli.progress import progress_bar
from domain.imports import SourceRow
from projections.importer import OUTCOMES, EventTableExports, ImportReport, import_table
from projections.source_table import SourceTable, table_identifier

commands = typer.Typer()

Refuse = Callable[[SourceRow, str], None]


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
    ] = 5000,
) -> None:
    """Record every row of the seed's export_logs table as the ledger's events.

    A new export gets its whole lifecycle up to the row's status in one append;
    a known one only what changed since (a later status, a new expiry), so a
    re-run records nothing for rows that did not change. A row the ledger cannot
    record (a request that changed, a status no legal move reaches) is skipped
    and listed with its reason, on stderr or in --report FILE; the import still
    exits 0 and says how many it refused. Exit 2 when the source cannot be read.
    """
    with errors():
        table_identifier(table)
    with (
        errors(),
        SourceTable(source, table) as rows,
        _refusals(report) as refuse,
        opened() as rt,
        EventTableExports(rt.url) as known,
    ):
        label = f"{'checking' if dry_run else 'importing'} {table}"
        with progress_bar(label, rows.count()) as advance:
            result = import_table(
                rt.ledger,
                rows,
                known,
                batch_size=batch_size,
                dry_run=dry_run,
                on_rows=advance,
                on_refused=refuse,
            )
    _print_report(result, report)


@contextmanager
def _refusals(report: Path | None) -> Iterator[Refuse]:
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
        out.print(
            f"{result.rows:,} rows of {result.table} in {result.seconds:.1f} s "
            f"({result.rows_per_second:,.0f} rows/s): {counts}",
            highlight=False,
            soft_wrap=True,
        )
    refused = result.counts["refused"]
    if refused:
        where = f"listed in {report}" if report is not None else "listed above on stderr"
        out.print(f"{refused:,} rows refused and skipped, {where}", highlight=False, soft_wrap=True)
