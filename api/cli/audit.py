"""CLI commands binding files and exports to the ledger: verify-file, audit-export,
verify-export."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import psycopg
import typer

from api.cli.output import err, errors, fail, opened, out
from api.cli.progress import progress_bar
from api.wiring.auth import valid_user_id
from projections.audit import export as audit
from projections.audit.artifacts import check_file, completion, file_digest
from projections.audit.export_check import UNKNOWN, ExportCheck, check_export, read_lines
from projections.tlog.checkpoints import checkpoint, latest_checkpoint
from sql.names import ADMIN_ROLE

commands = typer.Typer()


@commands.command("verify-file")
def verify_file(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_... or a UUID).")],
    path: Annotated[Path, typer.Argument(help="The exported file to check.")],
) -> None:
    """Check a file against the SHA-256 and size its export's Completed event recorded.
    Exit 0 when both match, 1 when either differs, 2 when it cannot be checked."""
    if not path.is_file():
        fail(f"{path} is not a readable file")
    with errors(), opened() as rt:
        completed = completion(rt.ledger.history(export_id))
    if completed is None:
        fail(f"export {export_id} was never completed: the ledger has no file to check against")
    try:
        with progress_bar(f"hashing {path.name} (bytes)", path.stat().st_size) as advance:
            sha256, size = file_digest(path, advance)
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}")
    check = check_file(export_id, completed, sha256, size)
    where = f"the file completed at position {check.position}"
    if problems := check.mismatches():
        for problem in problems:
            err.print(f"mismatch: {problem}", markup=False, highlight=False, soft_wrap=True)
        err.print(
            f"{path} is not {where} of {export_id}", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(1)
    if not check.checkable:
        fail(f"the ledger records no sha256 for {export_id} (only its size, which matches)")
    out.print(
        f"{path} is {where} of {export_id}: sha256 {sha256}, {size:,} bytes",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@commands.command("audit-export")
def audit_export(
    start: Annotated[int | None, typer.Option("--from", min=1, help="First log position.")] = None,
    end: Annotated[int | None, typer.Option("--to", min=1, help="Last log position.")] = None,
    user_id: Annotated[str | None, typer.Option(help="Only this user's exports.")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help=f"Only one type: {', '.join(audit.EVENT_TYPES)}.")
    ] = None,
    format: Annotated[
        str | None, typer.Option(help="jsonl or csv (default: from the file name, else jsonl).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Export the stored events in log order, each with its leaf hash, for an audit;
    'verify-export' checks such a file against a signed checkpoint."""
    chosen = format or ("csv" if output and output.suffix == ".csv" else "jsonl")
    if chosen not in audit.MEDIA_TYPES:
        fail(f"--format must be jsonl or csv, not {chosen!r}")
    if start is not None and end is not None and start > end:
        fail(f"--from {start} is after --to {end}")
    if user_id is not None and not valid_user_id(user_id):
        fail(f"--user-id {user_id!r} is not a user id (1 to 200 printable characters)")
    try:
        audit.topic_of(event_type)
    except ValueError as error:
        fail(str(error))
    filters = audit.AuditFilters(start or 1, end or audit.LAST, user_id, event_type)
    where = output if output is not None else "stdout"
    with errors(), opened() as rt, rt.database.connect(ADMIN_ROLE) as conn:
        try:
            with _opened(output) as sink:
                written = _write_export(conn, filters, chosen, sink)  # type: ignore[arg-type]
        except OSError as error:
            if isinstance(error, BrokenPipeError):  # a reader that stopped early: typer's to end
                raise
            fail(f"cannot write {where}: {error.strerror}")
    err.print(f"{written:,} events written to {where}", highlight=False)


def _opened(output: Path | None) -> Any:
    if output is None:
        return nullcontext(sys.stdout.buffer)
    try:
        return output.open("wb")
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}")


def _write_export(
    conn: psycopg.Connection[Any], filters: audit.AuditFilters, format: audit.Format, sink: BinaryIO
) -> int:
    written = 0
    with progress_bar("exporting events", audit.count(conn, filters)) as advance:

        def counted() -> Any:
            nonlocal written
            for batch in audit.stream(conn, filters):
                written += len(batch)
                advance(len(batch))
                yield batch

        for chunk in audit.chunks(counted(), format):
            sink.write(chunk)
    return written


@commands.command("verify-export")
def verify_export(
    export_file: Annotated[Path, typer.Argument(help="A file written by 'audit-export'.")],
    tree_size: Annotated[
        int | None,
        typer.Option("--checkpoint", min=1, help="The checkpoint's tree size (default: latest)."),
    ] = None,
    key_id: Annotated[
        list[str] | None,
        typer.Option("--key-id", help="Trust only checkpoints signed by this key id."),
    ] = None,
    gapless: Annotated[
        bool,
        typer.Option(
            "--gapless", help="An unfiltered export: no event between two lines may be missing."
        ),
    ] = False,
) -> None:
    """Check an audit export against a signed checkpoint: every line against its
    stored state and the sealed tree. Exit 1 naming the first bad position."""
    try:
        handle = export_file.open(encoding="utf-8", newline="")
    except OSError as error:
        fail(f"cannot read {export_file}: {error.strerror}")
    with errors(), handle, opened() as rt:
        with (
            rt.database.connect(ADMIN_ROLE) as conn,
            progress_bar("checking lines", None) as advance,
        ):
            signed = latest_checkpoint(conn) if tree_size is None else checkpoint(conn, tree_size)
            if signed is None:
                fail("no such checkpoint: the sealer has not sealed that far")
            trusted = frozenset(key_id) if key_id else None
            try:
                report = check_export(conn, read_lines(handle), signed, trusted, advance, gapless)
            except UnicodeDecodeError:
                fail(f"{export_file} is not UTF-8 text")
    _print_export_report(export_file, report)
    if not report.ok:
        raise typer.Exit(1)


_MODES = {
    "complete": "the whole log up to it: the lines reproduce its signed root",
    "prefix": "a prefix of the log: its root is consistent with the signed one",
    "partial": "part of the log: each line is proved included in the signed tree",
    "empty": "no line it covers",
}


def _print_export_report(path: Path, report: ExportCheck) -> None:
    cp = report.checkpoint
    out.print(
        f"{path}: {report.lines:,} lines; {report.covered:,} covered by the checkpoint of size "
        f"{cp.tree_size:,} (position {cp.position}, key {cp.key_id}), {report.beyond:,} after it; "
        f"{_MODES[report.mode]}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if report.ok:
        out.print("the export matches the sealed log")
        return
    problems = report.problems.sorted()
    first = problems[0]
    where = "?" if first.position == UNKNOWN else first.position
    err.print(f"first bad position: {where}: {first.message}", markup=False, soft_wrap=True)
    for problem in problems:
        where = "?" if problem.position == UNKNOWN else problem.position
        line = f"  position {where} ({problem.kind}) {problem.message}"
        err.print(line, markup=False, highlight=False, soft_wrap=True)
