"""CLI commands of one export's events: history, replay, and demo data."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.output import JsonFlag, errors, fail, opened, out, parse_timestamp, print_json
from api.cli.progress import progress_bar
from domain.exports.views import ExportState, HistoryEntry

commands = typer.Typer()


@commands.command()
def demo(
    exports: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many exports.")] = 1000,
    users: Annotated[int, typer.Option(min=1, help="Spread over this many users.")] = 200,
    weeks: Annotated[
        int, typer.Option(min=0, max=520, help="Spread the history over this many past weeks.")
    ] = 4,
) -> None:
    """Seed N exports with realistic mixed lifecycles, through the application."""
    from api.cli.demo import seed

    started = time.perf_counter()
    spread = timedelta(weeks=weeks) if weeks else None
    with errors(), opened() as rt, progress_bar("seeding exports", exports) as bar:
        counts = seed(rt.ledger, exports, users=users, on_batch=bar, spread=spread)
    elapsed = time.perf_counter() - started
    if spread is not None:
        out.print(f"demo only: events are recorded at times over the last {weeks} weeks")
    table = Table(title=f"{exports} exports seeded in {elapsed:.1f} s")
    table.add_column("status")
    table.add_column("exports", justify="right")
    for status, count in sorted(counts.items()):
        table.add_row(status, str(count))
    out.print(table)


@commands.command()
def history(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_... or a UUID).")],
    as_json: JsonFlag = False,
) -> None:
    """Every event of one export, oldest first."""
    with errors(), opened() as rt:
        entries = rt.ledger.history(export_id)
    if as_json:
        print_json([_entry_dict(e) for e in entries])
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


@commands.command()
def replay(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_... or a UUID).")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RFC 3339 timestamp, e.g. 2026-03-03T14:00:00Z.")
    ] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Aggregate version.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The export as it stood at a moment or version, rebuilt from its events."""
    if (as_of is None) == (version is None):
        fail("give exactly one of --as-of or --version")
    at = parse_timestamp(as_of) if as_of is not None else None
    with errors(), opened() as rt:
        state = rt.ledger.state_as_of(export_id, at=at, version=version)
    if as_json:
        print_json(_state_dict(state))
        return
    table = Table(title=f"{export_id} at version {state.version}", show_header=False)
    for key, value in _state_dict(state).items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


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
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(state).items()}
