"""CLI commands of the read model: follow, rebuild, check, expire."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.output import err, errors, fail, opened, out, parse_timestamp
from api.cli.progress import progress_bar
from projections.readmodel.follower import Follower
from projections.readmodel.history import check_snapshot_table, snapshot
from projections.readmodel.rebuild import RebuildReport, rebuild

commands = typer.Typer()


@commands.command()
def project(
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 1000,
    seal: Annotated[
        bool, typer.Option("--seal/--no-seal", help="Also seal the log into signed checkpoints.")
    ] = True,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="While another process holds the projector lock, wait for it; "
            "--no-wait: say who holds it and exit 1.",
        ),
    ] = True,
) -> None:
    """Keep export_logs up to date with the events until stopped (Ctrl-C);
    also seals the log (Merkle leaves, signed checkpoints) unless --no-seal.
    Projects only while it holds the projector lock, as elected servers do."""
    from projections.projector import lock_session, process_name

    stopping = threading.Event()
    workers: list[Follower | Any] = []

    def stop(signum: int, _: FrameType | None) -> None:
        err.print(f"{signal.Signals(signum).name}: stopping after the current batch")
        stopping.set()
        for worker in workers:
            worker.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with errors(), opened() as rt, lock_session(rt.database, process_name()) as lock:
        if not _take_projector_lock(lock, wait=wait, stopping=stopping):
            raise typer.Exit(0 if stopping.is_set() else 1)
        _project_holding(rt, lock, batch_size, seal, workers, stopping)


def _take_projector_lock(lock: Any, *, wait: bool, stopping: threading.Event) -> bool:
    """Take the projector lock on ``lock``'s session; with ``wait``, until it is free."""
    from projections.projector import projector_holder, take_projector_lock

    told = None
    while not stopping.is_set():
        if take_projector_lock(lock):
            return True
        holder = projector_holder(lock) or "another process"
        if not wait:
            err.print(f"the projector lock is held by {holder}: not projecting")
            return False
        if holder != told:
            err.print(f"waiting for the projector lock, held by {holder}")
            told = holder
        stopping.wait(1.0)
    return False


def _project_holding(
    rt: Any, lock: Any, batch_size: int, seal: bool, workers: list[Any], stopping: threading.Event
) -> None:
    """Follow (and seal, and ask the witnesses) while ``lock``'s session holds the lock."""
    from api.wiring.witnesses import configured, post
    from projections.projector import still_holding
    from projections.tlog.sealer import Sealer
    from projections.tlog.witnessing import Cosigners

    follower = Follower(rt.database, batch_size=batch_size)
    sealer = Sealer(rt.database, rt.keys, origin=rt.settings.log_origin) if seal else None
    witnesses = configured(rt.settings) if seal else []
    cosigners = Cosigners(rt.database, witnesses, post) if witnesses else None
    workers.extend(w for w in (follower, sealer, cosigners) if w is not None)
    if stopping.is_set():
        return
    status = follower.status()
    err.print(f"following from position {status.position} (head {status.head})")

    def watch_lock() -> None:
        while not stopping.wait(1.0):
            if not still_holding(lock):
                err.print("lost the projector lock (its session ended): stopping")
                stopping.set()
                for worker in workers:
                    worker.stop()

    threading.Thread(target=watch_lock, name="projector-lock", daemon=True).start()
    sealing = threading.Thread(target=sealer.run, name="sealer", daemon=True) if sealer else None
    if sealing is not None:
        sealing.start()
    if cosigners is not None:  # the witnesses, asked from a thread of their own
        threading.Thread(target=cosigners.run_forever, name="cosigners", daemon=True).start()
    try:
        follower.run(lambda n, p: err.print(f"folded {n} events, now at position {p}"))
    finally:  # the follower stopped (or failed): the sealer stops with it
        stopping.set()
        if sealer is not None and sealing is not None:
            sealer.stop()
            sealing.join(timeout=30)
        if cosigners is not None:
            cosigners.stop()
    err.print(f"stopped at position {follower.position}")


@commands.command("rebuild")
def rebuild_command(
    check: Annotated[
        bool, typer.Option("--check", help="Compare with the events; do not swap.")
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Also fold and compare every version of export_log_versions, "
            "not only the current ones.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="With --into: the moment (RFC 3339, e.g. 2026-03-03T14:00:00Z) to snapshot.",
        ),
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", help="With --as-of: the new table to write the snapshot to."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="With --into: overwrite an existing table.")
    ] = False,
) -> None:
    """Rebuild export_logs from the events into a shadow table and swap it in.

    Its history (export_log_versions) is checked by its current versions and
    rebuilt too when they differ; --history folds and compares every version.
    With --check, only report drift: exit 1 when the live tables differ from
    what the events say, 0 when they match. With --as-of T --into TABLE, leave
    export_logs alone and write the table as it stood at T into TABLE.
    """
    if (as_of is None) != (into is None):
        fail("--as-of and --into go together")
    if as_of is not None and into is not None:
        if check or history:
            fail("--check and --history do not go with --as-of/--into")
        _snapshot(into, parse_timestamp(as_of), replace=replace)
        return
    if replace:
        fail("--replace goes with --as-of/--into")
    with errors(), opened() as rt:
        label = "checking export_logs" if check else "rebuilding export_logs"
        with progress_bar(label, None) as advance:
            report = rebuild(
                rt.database,
                swap=not check,
                history=history,
                on_total=advance.set_total,
                on_events=advance,
            )
    _print_report(report, check)
    if check and report.differences.drifted:
        raise typer.Exit(1)


def _snapshot(table: str, at: datetime, *, replace: bool) -> None:
    with errors():
        check_snapshot_table(table)
    with errors(), opened() as rt:
        with progress_bar(f"export_logs as of {at.isoformat()}", None) as advance:
            report = snapshot(
                rt.database,
                table,
                at,
                replace=replace,
                on_total=advance.set_total,
                on_events=advance,
            )
    out.print(
        f"{report.rows:,} exports as they stood at {report.at.isoformat()} written to "
        f"{report.table} ({report.events:,} events up to position {report.position} "
        f"read in {report.seconds:.1f} s)"
    )


def _print_report(report: RebuildReport, check: bool) -> None:
    diff = report.differences
    out.print(
        f"{report.events:,} events folded into {report.rows:,} rows in {report.seconds:.1f} s "
        f"({report.events_per_second:,.0f} events/s), position {report.position}"
    )
    if diff.problem is not None:
        out.print(diff.problem)
    if diff.versions:
        out.print(diff.versions_summary())
    if not diff.drifted:
        out.print("live table matches the events")
    elif diff.total:
        out.print(
            f"live table differs from the events: {diff.missing} missing, "
            f"{diff.extra} extra, {diff.different} different rows"
        )
        table = Table("export_id", "kind", "columns (live -> expected)")
        for example in diff.examples:
            columns = example.get("columns", {})
            detail = "; ".join(
                f"{k}: {v['live']!r} -> {v['expected']!r}" for k, v in columns.items()
            )
            table.add_row(example["export_id"], example["kind"], detail)
        out.print(table)
    if not check:
        fixed = " (differences fixed)" if diff.drifted else ""
        history = "; its history was rebuilt too" if report.history else ""
        out.print(f"swapped the rebuilt table in{fixed}{history}")


@commands.command()
def expire() -> None:
    """Expire every completed export whose expires_at has passed (safe to rerun)."""
    from projections.readmodel.due import ReadModelDueExports

    with errors(), opened() as rt:
        run = rt.ledger.expire_due_run(ReadModelDueExports(rt.database))
    held = f"; {run.on_hold} due exports skipped, under legal hold" if run.on_hold else ""
    out.print(f"expired {run.expired} exports{held}")
