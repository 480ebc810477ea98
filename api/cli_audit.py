"""CLI commands binding files and exports to the ledger: verify-file, audit-export,
verify-export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.bootstrap import runtime
from api.cli import _errors, app, err, fail, out, settings
from api.progress import progress_bar
from projections.artifacts import check_file, completion, file_digest


@app.command("verify-file")
def verify_file(
    export_id: Annotated[str, typer.Argument(help="The export's id (exp_...).")],
    path: Annotated[Path, typer.Argument(help="The exported file to check.")],
) -> None:
    """Check a file against the SHA-256 and size its export's Completed event recorded.
    Exit 0 when both match, 1 when either differs, 2 when it cannot be checked."""
    if not path.is_file():
        fail(f"{path} is not a readable file")
    with _errors(), runtime(settings()) as rt:
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
