"""The ``export-ledger`` command line: the root app, and every command group on it.

Each module of this package defines its commands on a ``commands`` group of its
own; this module imports them and adds them here, so no command module imports
this one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import typer
from typer.core import TyperGroup

from api.cli import (
    audit,
    exports,
    importer,
    keys,
    privacy,
    projection,
    retention,
    seal,
    server,
    sinks,
    status,
    witness,
)
from api.cli.output import fail
from api.wiring.logs import setup_logging

# Click's UsageError (a missing or bad argument, an unknown command or option), whichever
# click typer runs on: typer re-exports it only as the base of its BadParameter.
_UsageError = cast(type[Exception], typer.BadParameter.__mro__[1])


@contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except _UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # no arguments at all: the help
            raise
        usage: Any = error  # a click exception: its message, and the command it was about
        hint = f" (see '{usage.ctx.command_path} --help')" if usage.ctx is not None else ""
        fail(usage.format_message() + hint)


class _Commands(TyperGroup):
    """The root group: a usage error is one line on stderr and exit code 2, as every
    error a user can cause is, instead of click's usage text and box."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _one_line_usage():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Commands,
    help="Export Ledger: an event-sourced, tamper-evident audit ledger for data exports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for group in (
    status, exports, importer, projection, seal, keys, audit, privacy, retention, server, sinks,
):  # fmt: skip
    app.add_typer(group.commands)
app.add_typer(witness.commands, name="witness")


def main() -> None:
    setup_logging()
    if sys.stdout.errors == "strict":  # a file name that is not UTF-8 prints as escapes
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    app()
