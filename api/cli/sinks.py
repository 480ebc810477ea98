"""``export-ledger sinks``: webhook receivers of the ledger's events (projections/sinks/)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from api.cli.output import JsonFlag, errors, load_settings, opened, out, print_json
from api.wiring.sink_key import allowed_hosts, sink_key
from projections.sinks import store
from sql import statement
from sql.names import WRITER_ROLE

commands = typer.Typer()
sinks = typer.Typer(help="Webhook sinks: the events, signed, POSTed to a receiver in order.")
commands.add_typer(sinks, name="sinks")
NameArg = Annotated[str, typer.Argument(help="The sink's name.")]


@contextmanager
def writer() -> Iterator[tuple[psycopg.Connection[Any], Any]]:
    settings = load_settings()
    with errors(), opened(settings) as rt, rt.database.connect(WRITER_ROLE) as conn:
        conn.autocommit = True
        yield conn, settings


@sinks.command("add")
def add(
    url: Annotated[str, typer.Argument(help="https:// to an allowed host, http:// to loopback.")],
    name: Annotated[
        str, typer.Option(help="The sink's name (default: derived from the URL).")
    ] = "",
    types: Annotated[list[str] | None, typer.Option("--types", help="Only these types.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's events.")] = None,
    personal: Annotated[
        bool, typer.Option("--personal-data", help="Send personal fields opened (not erased).")
    ] = False,
) -> None:
    """Add a sink; it gets the events from now on (``replay`` sends older ones).
    Prints its signing secret: it is shown this once."""
    with writer() as (conn, settings):
        sink = store.SinkCreate(name or _name_of(url), url, tuple(types or ()), user, personal)
        secret = store.add(conn, sink, sink_key(settings), allowed_hosts(settings))
    out.print(f"added sink {sink.name} -> {url}", soft_wrap=True, highlight=False)
    out.print(f"secret (shown once): {secret}", soft_wrap=True, highlight=False)


def _name_of(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1]
    cleaned = "".join(c if c.isalnum() else "-" for c in host.lower()).strip("-")
    return (cleaned or "sink")[:40]


@sinks.command("list")
def list_sinks(as_json: JsonFlag = False) -> None:
    """Every sink: state, cursor, lag, attempts, the last error."""
    with writer() as (conn, _):
        found = store.listed(conn)
        row = conn.execute(statement("read_model", "head_position")).fetchone()
        head = int(row[0]) if row else 0
    if as_json:
        print_json([s.public(head) for s in found])
        return
    table = Table("name", "url", "state", "cursor", "lag", "attempts", "last error")
    for s in found:
        table.add_row(s.name, s.url, s.state, str(s.cursor), str(s.lag(head)), str(s.attempts),
                      s.last_error or "")  # fmt: skip
    out.print(table)


def _change(name: str, what: str, done: str, **params: Any) -> None:
    with writer() as (conn, _):
        store.change(conn, name, what, **params)
    out.print(f"{done} sink {name}", soft_wrap=True, highlight=False)


@sinks.command("remove")
def remove(name: NameArg) -> None:
    """Forget a sink and its deliveries."""
    _change(name, "remove", "removed")


@sinks.command("pause")
def pause(name: NameArg) -> None:
    """Stop delivering to a sink; its cursor stays."""
    _change(name, "pause", "paused")


@sinks.command("resume")
def resume(name: NameArg) -> None:
    """Deliver to a paused or failing sink again, from its cursor, now."""
    _change(name, "resume", "resumed")


@sinks.command("replay")
def replay(
    name: NameArg,
    start: Annotated[int, typer.Option("--from", min=1, help="The first position to send.")],
) -> None:
    """Send the events again from a position on (a new webhook-id: dedupe by event id)."""
    _change(name, "replay", f"replaying from {start}:", cursor=start - 1)
