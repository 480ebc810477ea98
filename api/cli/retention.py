"""CLI commands of retention: the policies, and the run that sheds exports past them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.output import JsonFlag, errors, opened, out, print_json
from api.cli.progress import progress_bar
from domain.ledger.retention import RetentionRun
from domain.retention.due import OLD_FORMAT
from domain.retention.policies import Policy, duration_text

commands = typer.Typer()
policies = typer.Typer(help="Retention policies: when an export's personal fields are shed.")
commands.add_typer(policies, name="retention")

OPERATOR = "operator"
ByOption = Annotated[str, typer.Option("--by", help="Who does it, for the audit trail.")]


@commands.command()
def retain(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be shed, record nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Shed every export past its retention policy; held exports are skipped and listed."""
    from projections.readmodel.retention import StoredRetentionCandidates

    with errors(), opened() as rt, progress_bar("exports looked at", None) as advance:
        run = rt.ledger.retain(
            StoredRetentionCandidates(rt.database), dry_run=dry_run, on_seen=advance
        )
    if as_json:
        print_json(_run_json(run, dry_run))
        return
    _print_run(run, dry_run)


def _run_json(run: RetentionRun, dry_run: bool) -> dict[str, object]:
    return {
        "dry_run": dry_run,
        "applied": run.applied,
        "held": [
            {"export_id": h.export_id, "hold_id": h.hold_id, "matter": h.matter} for h in run.held
        ],
        "old_format": run.old_format,
        "seen": run.seen,
    }


def _print_run(run: RetentionRun, dry_run: bool) -> None:
    verb = "would apply" if dry_run else "applied"
    out.print(f"{verb} retention to {len(run.applied)} exports", highlight=False)
    if run.old_format:
        out.print(
            f"{run.old_format} of them sealed before export keys: {OLD_FORMAT}", highlight=False
        )
    if run.held:
        out.print(f"skipped {len(run.held)} exports under legal hold:", highlight=False)
        for held in run.held:
            out.print(
                f"  {held.export_id} hold {held.hold_id} (matter {held.matter!r})",
                soft_wrap=True,
                highlight=False,
            )


@policies.command("set")
def set_policy(
    after: Annotated[str, typer.Option(help="How long to keep: 90d, 12w or 36h.")],
    basis: Annotated[
        str, typer.Option("--from", help="Counted from: expiry, completion, failure, last-event.")
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="Only exports of this format.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only exports in this status.")] = None,
    by: ByOption = OPERATOR,
) -> None:
    """Set a retention policy; prints its id."""
    with errors(), opened() as rt:
        policy = rt.ledger.set_retention(
            after=after, basis=basis, format=fmt, status=status, actor=by
        )
    out.print(f"set retention policy {policy.policy_id}: {policy.describe()}", highlight=False)


@policies.command("remove")
def remove_policy(
    policy_id: Annotated[str, typer.Argument(help="The policy's id (ret_...).")],
    by: ByOption = OPERATOR,
) -> None:
    """Remove a retention policy (exports it shed stay shed)."""
    with errors(), opened() as rt:
        rt.ledger.remove_retention(policy_id, actor=by)
    out.print(f"removed retention policy {policy_id}", highlight=False)


@policies.command("list")
def list_policies(
    export_id: Annotated[
        str | None, typer.Option("--export", help="Say which policy applies to this export.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The retention policies in force, or which one applies to an export and when."""
    with errors(), opened() as rt:
        if export_id is not None:
            shed_by = rt.ledger.shed_by(export_id)
            decision = rt.ledger.retention_of(export_id)
        found = rt.ledger.retention_policies()
    if export_id is None:
        _print_policies(found, as_json)
        return
    result = {
        "export_id": export_id,
        "shed_by": shed_by,
        "policy": _policy_json(decision.policy) if decision else None,
        "due_at": decision.due_at.isoformat() if decision else None,
    }
    if as_json:
        print_json(result)
    elif shed_by is not None:
        out.print(f"{export_id} was shed by retention policy {shed_by}", highlight=False)
    elif decision is None:
        out.print(f"no retention policy applies to {export_id}", highlight=False)
    else:
        out.print(
            f"retention policy {decision.policy.policy_id} ({decision.policy.describe()}) "
            f"applies to {export_id}: due at {decision.due_at.isoformat()}",
            soft_wrap=True,
            highlight=False,
        )


def _policy_json(policy: Policy) -> dict[str, object]:
    return {
        "policy_id": policy.policy_id,
        "after": duration_text(policy.after),
        "from": str(policy.basis),
        "format": policy.format,
        "status": policy.status,
        "set_by": policy.set_by,
        "set_at": policy.set_at.isoformat(),
    }


def _print_policies(found: list[Policy], as_json: bool) -> None:
    if as_json:
        print_json([_policy_json(p) for p in found])
        return
    if not found:
        out.print("no retention policies (exports are kept for good)")
        return
    table = Table("policy_id", "after", "from", "format", "status", "set_by", "set_at")
    for p in found:
        row = _policy_json(p)
        table.add_row(*(str(row[c] or "") for c in ("policy_id", "after", "from", "format",
                                                     "status", "set_by", "set_at")))  # fmt: skip
    out.print(table)
