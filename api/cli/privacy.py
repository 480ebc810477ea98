"""CLI commands of privacy and compliance: legal holds, and erasure of a data subject."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.output import JsonFlag, errors, opened, out, print_json

commands = typer.Typer()
holds = typer.Typer(help="Legal holds: while one is open an export cannot expire or be deleted.")
commands.add_typer(holds, name="hold")

OPERATOR = "operator"
ExportArg = Annotated[str, typer.Argument(help="The export's id (exp_... or a UUID).")]
ByOption = Annotated[str, typer.Option("--by", help="Who does it, for the audit trail.")]


@holds.command("place")
def place(
    export_id: ExportArg,
    matter: Annotated[str, typer.Option(help="The matter the hold is for.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
    by: ByOption = OPERATOR,
) -> None:
    """Place a legal hold on an export; prints the hold's id."""
    with errors(), opened() as rt:
        hold_id, state = rt.ledger.place_hold(export_id, matter=matter, reason=reason, actor=by)
    out.print(
        f"placed hold {hold_id} on {state.export_id} (matter {matter!r})",
        soft_wrap=True,
        highlight=False,
    )


@holds.command("release")
def release(
    export_id: ExportArg,
    hold_id: Annotated[str, typer.Argument(help="The hold's id (hold_...).")],
    by: ByOption = OPERATOR,
) -> None:
    """Release a legal hold."""
    with errors(), opened() as rt:
        rt.ledger.release_hold(export_id, hold_id, actor=by)
    out.print(f"released hold {hold_id} of {export_id}", soft_wrap=True, highlight=False)


@holds.command("list")
def list_holds(export_id: ExportArg, as_json: JsonFlag = False) -> None:
    """The open legal holds of an export."""
    with errors(), opened() as rt:
        state = rt.ledger.get(export_id)
    if as_json:
        print_json([{"hold_id": k, **v} for k, v in state.holds.items()])
        return
    table = Table("hold_id", "matter", "reason", "placed_by", title=f"holds of {export_id}")
    for hold_id, hold in state.holds.items():
        table.add_row(hold_id, hold["matter"], hold.get("reason") or "", hold["placed_by"])
    out.print(table)


@commands.command()
def erase(
    user_id: Annotated[str, typer.Argument(help="The user whose data is erased.")],
    reason: Annotated[
        str | None, typer.Option(help="Why (stored in the clear: no personal data).")
    ] = None,
    by: ByOption = OPERATOR,
) -> None:
    """Erase a data subject: destroy their key and record Erased (final)."""
    from projections.readmodel.follower import Follower
    from projections.subject_keys import ReadModelSubjects

    with errors(), opened() as rt:
        with rt.database.projector() as conn:  # the exports and holds, up to the head
            Follower(rt.database).catch_up(conn)
        erasure = rt.ledger.erase_subject(
            user_id, actor=by, reason=reason, exports=ReadModelSubjects(rt.database)
        )
        with rt.database.projector() as conn:  # the read tables, past Erased
            Follower(rt.database).catch_up(conn)
    if not erasure.erased_now:
        out.print(
            f"subject {erasure.subject} was erased before: nothing more was recorded",
            soft_wrap=True,
            highlight=False,
        )
        return
    count = len(erasure.export_ids)
    out.print(
        f"erased subject {erasure.subject}: its key is destroyed ({count} exports)",
        soft_wrap=True,
        highlight=False,
    )
