"""``export-ledger status``: the ledger's health on one screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from api.cli.output import errors, fail, load_settings, opened, out
from api.wiring.auth import secret_source
from api.wiring.database import migrate as apply_migrations
from api.wiring.database import open_database, redacted
from api.wiring.settings import Settings
from api.wiring.signing import KeyRing
from api.wiring.witnesses import current_report, report_lines
from projections.db.database import Database
from projections.importing.sync_status import (
    Diverged,
    SyncStatus,
    diverged_exports,
    sync_statuses,
)
from projections.projector import projector_holder
from projections.readmodel.store import head_position
from projections.reads.positions import ledger_positions
from projections.sinks import store as sink_store
from projections.sinks.store import SinkState
from projections.tlog.checkpoints import Checkpoint, latest_checkpoint
from projections.tlog.witnessing import Report
from sql import query
from sql.names import ADMIN_ROLE

commands = typer.Typer()


@dataclass(frozen=True)
class Status:
    url: str
    server_version: str
    head: int
    projected: int
    sealed: int
    checkpoint: Checkpoint | None
    witnessing: Report | None = None
    projector: str | None = None
    syncs: tuple[SyncStatus, ...] = ()
    diverged: tuple[Diverged, ...] = ()
    sinks: list[SinkState] = field(default_factory=list)


def gather_status(db: Database, settings: Settings | None = None) -> Status:
    """Everything in one read-only transaction, as the admin role (which may read the
    events, the tracking rows and the checkpoints)."""
    with db.connect(ADMIN_ROLE, connect_timeout=5) as conn:
        conn.read_only = True
        version = conn.execute(query("console", "server_version")).fetchone()
        positions = ledger_positions(conn, head_position(conn))
        return Status(
            url=redacted(db.url),
            server_version=str(version[0]) if version else "?",
            head=positions.head,
            projected=positions.projected,
            sealed=positions.sealed,
            checkpoint=latest_checkpoint(conn),
            witnessing=current_report(conn, settings) if settings and settings.witnesses else None,
            projector=projector_holder(conn),
            syncs=tuple(sync_statuses(conn)),
            diverged=tuple(diverged_exports(conn)),
            sinks=sink_store.listed(conn),
        )


@commands.command()
def status() -> None:
    """Database, head position, projection and sealer lag, latest checkpoint."""
    with errors(), opened() as rt:
        try:
            found = gather_status(rt.database, rt.settings)
        except psycopg.OperationalError as error:
            fail(f"cannot reach the database: {error}".strip())
    table = status_table(found, rt.database.embedded, secret_rows(rt.settings))
    out.print(Panel(table, title="Export Ledger", expand=False))


def secret_rows(settings: Settings) -> list[tuple[str, str]]:
    """Where the secrets are, never what they are."""
    ring = KeyRing.of(settings)
    files = ", ".join(str(path) for path in ring.files()) or f"none yet in {settings.data_dir}"
    return [("signing key files", files), ("token secrets", secret_source(settings))]


def status_table(found: Status, embedded: bool, secrets: Sequence[tuple[str, str]] = ()) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    kind = "embedded" if embedded else "configured"
    table.add_row("database", f"{found.url} ({kind}, PostgreSQL {found.server_version})")
    table.add_row("head position", f"{found.head:,}")
    table.add_row("projection", _lagging(found.projected, found.head))
    table.add_row("sealer", _lagging(found.sealed, found.head))
    table.add_row(
        "projector",
        f"{found.projector} (holds the projector lock)"
        if found.projector
        else "no process holds the projector lock (only serve --workers elects one)",
    )
    cp = found.checkpoint
    if cp is None:
        table.add_row("latest checkpoint", "none yet")
    else:
        problem = cp.signature_problem()
        signature = Text("signature valid") if problem is None else Text(problem, style="red")
        table.add_row(
            "latest checkpoint",
            Text.assemble(
                f"tree size {cp.tree_size:,} (position {cp.position:,}), "
                f"signed {cp.created_at:%Y-%m-%d %H:%M:%S %Z} by key {cp.key_id}; ",
                signature,
            ),
        )
        table.add_row("root", cp.root.hex())
    if found.witnessing is not None:
        report = found.witnessing
        verdict = "witnessed" if report.witnessed else "not witnessed"
        table.add_row(
            "witnesses",
            Text(
                f"{verdict}: {report.cosigned} of {len(report.witnesses)} cosigned the latest "
                f"checkpoint (policy: {report.quorum})",
                style="" if report.witnessed else "yellow",
            ),
        )
        for name, line in report_lines(report):
            table.add_row(f"  {name}", escape(line))
    for row in sync_rows(found):
        table.add_row(*row)
    for sink in found.sinks:
        failing = f", {sink.attempts} failed attempts: {sink.last_error}" if sink.attempts else ""
        line = f"{sink.state}, cursor {sink.cursor:,}, lag {sink.lag(found.head):,}{failing}"
        table.add_row(f"sink {sink.name}", Text(line, style="" if sink.state == "active"
                                                else "yellow"))  # fmt: skip
    for name, where in secrets:
        table.add_row(name, escape(where))
    return table


def sync_rows(found: Status) -> list[tuple[str, Text]]:
    """One row per live sync (its position and lag), one per diverged export."""
    rows = []
    for sync in found.syncs:
        behind = f"{sync.lag_bytes:,} bytes" if sync.lag_bytes is not None else "unknown"
        age = (
            f", last commit applied {sync.lag_seconds:.1f} s after it was made"
            if (sync.lag_seconds is not None)
            else ""
        )
        warn = sync.wal_status in ("unreserved", "lost") or sync.diverged > 0
        text = (
            f"{sync.table} by slot {sync.slot} ({sync.phase}): at {sync.end_lsn}, "
            f"{sync.changes_applied:,} changes, {behind} behind the source{age}; "
            f"wal_status {sync.wal_status or 'unknown'}; {sync.diverged:,} diverged exports"
        )
        rows.append(("live sync", Text(text, style="yellow" if warn else "")))
    for d in found.diverged:
        text = (
            f"{d.export_id} (source row {d.source_id}, slot {d.slot}) at {d.position}: source "
            f"says {d.source_status}, ledger holds {d.ledger_status}: {d.reason}"
        )
        rows.append(("  diverged", Text(text, style="yellow")))
    return rows


def _lagging(position: int, head: int) -> Text:
    lag = max(head - position, 0)
    text = f"at {position:,}, lag {lag:,} event{'s' if lag != 1 else ''}"
    return Text(text, style="yellow" if lag else "")


@commands.command()
def migrate() -> None:
    """Create or update the database schema (idempotent)."""
    with errors():
        database = open_database(load_settings())
        applied = apply_migrations(database.migrate_url)
    out.print(f"migrated {redacted(database.migrate_url)}: {len(applied)} scripts applied")
