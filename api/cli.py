"""The ``export-ledger`` command line."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from api.bootstrap import runtime
from api.database import migrate as apply_migrations
from api.database import open_database, redacted
from api.progress import progress_bar
from api.settings import Settings
from domain.exceptions import ExportLedgerError
from domain.views import ExportState, HistoryEntry

app = typer.Typer(
    help="Export Ledger: an event-sourced, tamper-evident audit ledger for data exports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}")


@app.command()
def migrate() -> None:
    """Create or update the database schema (idempotent)."""
    with _errors():
        database = open_database(settings())
        applied = apply_migrations(database.url)
    out.print(f"migrated {redacted(database.url)}: {len(applied)} scripts applied")


@app.command()
def demo(
    exports: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many exports.")] = 1000,
    users: Annotated[int, typer.Option(min=1, help="Spread over this many users.")] = 200,
) -> None:
    """Seed N exports with realistic mixed lifecycles, through the application."""
    from api.demo import seed

    started = time.perf_counter()
    with _errors(), runtime(settings()) as rt, progress_bar("seeding exports", exports) as bar:
        counts = seed(rt.ledger, exports, users=users, on_batch=bar)
    elapsed = time.perf_counter() - started
    table = Table(title=f"{exports} exports seeded in {elapsed:.1f} s")
    table.add_column("status")
    table.add_column("exports", justify="right")
    for status, count in sorted(counts.items()):
        table.add_row(status, str(count))
    out.print(table)


@app.command()
def history(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_...).")],
    as_json: JsonFlag = False,
) -> None:
    """Every event of one export, oldest first."""
    with _errors(), runtime(settings()) as rt:
        entries = rt.ledger.history(export_id)
    if as_json:
        _print_json([_entry_dict(e) for e in entries])
        return
    table = Table(title=f"history of {export_id}")
    for column in ("position", "version", "type", "timestamp", "actor", "data"):
        table.add_column(column, overflow="fold")
    for e in entries:
        data = json.dumps(e.data, default=str, separators=(",", ":"))
        table.add_row(
            str(e.position), str(e.version), e.type, e.timestamp.isoformat(), e.actor, data
        )
    out.print(table)


@app.command()
def replay(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_...).")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RFC 3339 timestamp, e.g. 2026-03-03T14:00:00Z.")
    ] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Aggregate version.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The export as it stood at a moment or version, rebuilt from its events."""
    if (as_of is None) == (version is None):
        fail("give exactly one of --as-of or --version")
    at = _parse_timestamp(as_of) if as_of is not None else None
    with _errors(), runtime(settings()) as rt:
        state = rt.ledger.state_as_of(export_id, at=at, version=version)
    if as_json:
        _print_json(_state_dict(state))
        return
    table = Table(title=f"{export_id} at version {state.version}", show_header=False)
    for key, value in _state_dict(state).items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


def _parse_timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"not an RFC 3339 timestamp: {text!r} (e.g. 2026-03-03T14:00:00Z)")
    if moment.tzinfo is None:
        fail(f"the timestamp {text!r} needs a timezone, e.g. {moment.isoformat()}Z")
    return moment


class _errors:
    """Turns our errors into one line on stderr and exit code 2."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> Literal[False]:
        if isinstance(error, ExportLedgerError):
            fail(str(error))
        if isinstance(error, KeyboardInterrupt):
            fail("interrupted", 130)
        return False


def _entry_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "version": entry.version,
        "type": entry.type,
        "timestamp": entry.timestamp.isoformat(),
        "actor": entry.actor,
        "data": entry.data,
    }


def _state_dict(state: ExportState) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(state).items()}


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")


def main() -> None:
    from api import (  # noqa: F401 - registers commands
        cli_audit,
        cli_ledger,
        cli_projection,
        cli_server,
        cli_status,
    )
    from api.logs import setup_logging

    setup_logging()
    app()
