"""CLI commands of the sealed log: seal, verify, checkpoints, proof, verify-proof."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import orjson
import psycopg
import typer

from api.cli.output import err, errors, fail, opened, out
from api.cli.progress import progress_bar
from api.cli.witnessed import WITNESSED, print_split_view, verify_receipt, witnessed
from api.wiring.witnesses import configured, post
from domain.tlog import proof as tlog_proof
from projections.audit.verify import UNKNOWN, VerifyReport, verify, work
from projections.db.database import Database
from projections.tlog.checkpoints import Checkpoint, all_checkpoints, latest_checkpoint
from projections.tlog.proofs import proof_bundle, saved_checkpoint, verify_bundle
from projections.tlog.sealer import Sealer
from projections.tlog.witnessing import Cosigners
from sql.names import ADMIN_ROLE

commands = typer.Typer()

KeyIds = Annotated[
    list[str] | None,
    typer.Option("--key-id", help="Trust only checkpoints signed by this key id (repeatable)."),
]


@commands.command()
def seal(
    follow: Annotated[bool, typer.Option("--follow", help="Keep sealing until stopped.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 10_000,
) -> None:
    """Append every new event to the Merkle tree and sign a checkpoint of it."""
    with errors(), opened() as rt:
        sealer = Sealer(rt.database, rt.keys, batch_size=batch_size, origin=rt.settings.log_origin)
        if follow:
            _stop_on_signals(sealer)
            witnesses = configured(rt.settings)
            cosigners = Cosigners(rt.database, witnesses, post) if witnesses else None
            if cosigners is not None:  # the witnesses, asked from a thread of their own
                threading.Thread(target=cosigners.run_forever, daemon=True).start()
            try:
                sealer.run(lambda n, size: err.print(f"sealed {n} events, tree size {size}"))
            finally:
                if cosigners is not None:
                    cosigners.stop()
        else:
            with rt.database.projector() as conn:
                sealed = sealer.catch_up(conn)
            out.print(f"sealed {sealed} events; tree size {sealer.tree_size}")
    if sealer.key_id is not None:
        out.print(f"signing key {sealer.key_id}", highlight=False)


def _stop_on_signals(sealer: Sealer) -> None:
    def stop(signum: int, _: FrameType | None) -> None:
        err.print(f"{signal.Signals(signum).name}: stopping after the current batch")
        sealer.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@commands.command("verify")
def verify_command(
    against: Annotated[
        Path | None,
        typer.Option(help="Also check checkpoints saved here ('checkpoints --output')."),
    ] = None,
    key_id: KeyIds = None,
    against_witness: Annotated[
        list[str] | None,
        typer.Option(
            "--against-witness",
            help="Also check the checkpoints this witness (URL) cosigned (repeatable).",
        ),
    ] = None,
) -> None:
    """Recompute the whole sealed log and export_logs from the events and check
    every checkpoint; exit 1 naming the first bad position when anything is off."""
    if against and against_witness:
        fail("give --against or --against-witness, not both")
    saved = _read_checkpoints(against) if against else []
    label = "saved checkpoint"
    with errors(), opened() as rt:
        if against_witness:
            saved, label = witnessed(rt.database, rt.settings, against_witness), WITNESSED
        with progress_bar("verifying events", _work(rt.database)) as advance:
            report = verify(
                rt.database,
                against=saved,
                against_label=label,
                trusted=frozenset(key_id) if key_id else None,
                on_events=advance,
            )
        _print_privacy(rt.database)
    _print_report(report)
    if against_witness:
        print_split_view(report, saved)
    if not report.ok:
        raise typer.Exit(1)


def _print_privacy(db: Database) -> None:
    """Erased subjects, and the clear copies the seal keeps (README: Privacy); the exports
    shed by retention (README: Retention)."""
    from projections.readmodel.retention import retention_summary
    from projections.subject_keys import privacy_summary

    with db.connect(ADMIN_ROLE, autocommit=True) as conn:
        summaries = [privacy_summary(conn), retention_summary(conn)]
    for summary in summaries:
        if summary:
            out.print(summary, highlight=False, soft_wrap=True)


def _work(db: Database) -> int:
    """Events the two passes of verify read: the log, and the log up to export_logs."""
    with db.connect(ADMIN_ROLE, autocommit=True) as conn:
        return work(conn)


def _print_report(report: VerifyReport) -> None:
    out.print(
        f"{report.events:,} events ({report.sealed:,} sealed), {report.checkpoints:,} "
        f"checkpoints, {report.saved:,} saved checkpoints, {report.rows:,} export_logs rows "
        f"checked in {report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)",
        highlight=False,
        soft_wrap=True,
    )
    problems = report.problems
    if report.ok:
        out.print("the ledger matches its events, seals and signatures")
        return
    first = problems.sorted()[0]
    err.print(
        f"first bad position: {first.position}: {first.message}", markup=False, soft_wrap=True
    )
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(problems.counts.items()))
    err.print(f"{problems.total} problems ({counts}):", highlight=False, soft_wrap=True)
    for problem in problems.sorted():
        where = "?" if problem.position == UNKNOWN else problem.position
        line = f"  position {where} ({problem.kind}) {problem.message}"
        err.print(line, markup=False, highlight=False, soft_wrap=True)


@commands.command()
def checkpoints(
    output: Annotated[
        Path | None,
        typer.Option(help="Append to this JSON-lines file the checkpoints it lacks."),
    ] = None,
) -> None:
    """Print the signed checkpoints as JSON lines, or save them outside the database."""
    with errors(), opened() as rt:
        with rt.database.connect(ADMIN_ROLE) as conn:
            found = all_checkpoints(conn)
    if output is None:
        for cp in found:
            sys.stdout.write(json.dumps(cp.to_json()) + "\n")
        return
    saved = _read_checkpoints(output) if output.exists() else []
    newest = max((cp.tree_size for cp in saved), default=0)
    fresh = [cp for cp in found if cp.tree_size > newest]
    try:
        with output.open("a", encoding="utf-8") as file:
            file.writelines(json.dumps(cp.to_json()) + "\n" for cp in fresh)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}")
    out.print(f"saved {len(fresh)} new checkpoints to {output} ({len(saved) + len(fresh)} in all)")


def _read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoints of a JSON-lines file; orjson parses each line (UTF-8 checked,
    nesting bounded), saved_checkpoint takes it apart."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror}")
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(saved_checkpoint(orjson.loads(line)))
        except (ValueError, KeyError, TypeError) as error:
            fail(f"{path}:{number}: not a checkpoint ({error})")
    return found


@commands.command()
def proof(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_... or a UUID).")],
    tree_size: Annotated[
        int | None, typer.Option(min=1, help="Against this checkpoint (default: the latest).")
    ] = None,
    since: Annotated[
        int | None, typer.Option(min=1, help="Add a consistency proof from this checkpoint.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """A proof bundle: the export's events, their inclusion in a signed checkpoint."""
    with errors(), opened() as rt:
        with rt.database.connect(ADMIN_ROLE) as conn:
            if tree_size is None and since is not None:
                tree_size = _latest_size(conn)
            bundle = proof_bundle(conn, export_id, tree_size, since)
    text = json.dumps(bundle, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}")


def _latest_size(conn: psycopg.Connection[Any]) -> int | None:
    latest = latest_checkpoint(conn)
    return latest.tree_size if latest else None


@commands.command("verify-proof")
def verify_proof(
    bundle_file: Annotated[
        Path, typer.Argument(help="A bundle written by 'proof', a receipt, or a .tlog-proof.")
    ],
    key_id: KeyIds = None,
    vkey: Annotated[
        str | None,
        typer.Option("--vkey", help="The log's verifier key (receipts and tlog-proofs)."),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A trusted witness's cosignature vkey (repeatable)."),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option("--k", min=0, help="How many of the witnesses must cosign (default: all)."),
    ] = None,
) -> None:
    """Check a proof bundle, a receipt or a tlog-proof offline. Exit 1 if bad."""
    try:
        raw = bundle_file.read_bytes()
    except OSError as error:
        fail(f"cannot read {bundle_file}: {error.strerror}")
    if raw.startswith(tlog_proof.HEADER.encode()) or vkey is not None:
        verify_receipt(bundle_file, raw, vkey, witness or [], k)
        return
    try:
        bundle = orjson.loads(raw)  # UTF-8 checked, nesting bounded
    except orjson.JSONDecodeError as error:
        fail(f"{bundle_file} is not a JSON proof bundle: {error}")
    found = verify_bundle(bundle, frozenset(key_id) if key_id else None)
    if found:
        for problem in found:
            err.print(f"bad proof: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    signed = bundle["checkpoint"]
    out.print(
        f"{len(bundle['events'])} events of {bundle['export_id']} are in the log of "
        f"{signed['tree_size']} events signed by key {signed['key_id']}",
        highlight=False,
        soft_wrap=True,
    )
