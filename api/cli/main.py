"""The ``export-ledger`` command line: the root app, and every command group on it.

Each module of this package defines its commands on a ``commands`` group of its
own; this module imports them and adds them here, so no command module imports
this one.
"""

from __future__ import annotations

import typer

from api.cli import audit, exports, importer, projection, seal, server, status
from api.wiring.logs import setup_logging

app = typer.Typer(
    help="Export Ledger: an event-sourced, tamper-evident audit ledger for data exports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for group in (status, exports, importer, projection, seal, audit, server):
    app.add_typer(group.commands)


def main() -> None:
    setup_logging()
    app()
