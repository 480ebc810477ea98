"""What every command shares: the consoles, failing with one line, settings, timestamps.

Errors a user can cause end a command with one line on stderr and exit code 2
(:func:`fail`, and :class:`errors` for our own exceptions raised deeper down); a
failed check exits 1; an interrupt 130. No traceback reaches the user.

The consoles print text as it is, never as rich markup or emoji codes: what they
print holds ids, paths and stored data, and a ``[/x]`` in them is no markup.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from api.wiring.bootstrap import Runtime, bootstrap
from api.wiring.settings import Settings
from domain.exceptions import ExportLedgerError

out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """``error: message`` on one line of stderr (the lines of a longer message are
    joined), then exit with ``code``."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    err.print(Text.assemble(("error:", "red"), " ", line), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        fail(f"EXPORT_LEDGER_DATA_DIR {settings.data_dir} is not a directory")
    return settings


def opened(settings: Settings | None = None) -> Runtime:
    """The runtime of one command: settings read, the database found and migrated."""
    return bootstrap(settings or load_settings())


def parse_timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"not an RFC 3339 timestamp: {text!r} (e.g. 2026-03-03T14:00:00Z)")
    if moment.tzinfo is None:
        fail(f"the timestamp {text!r} needs a timezone, e.g. {moment.isoformat()}Z")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        fail(f"the timestamp {text!r} is out of range: in UTC it is before year 1 or after 9999")
    return moment


class errors:
    """Turns our errors into one line on stderr and exit code 2."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> Literal[False]:
        if isinstance(error, ExportLedgerError):
            fail(str(error))
        if isinstance(error, KeyboardInterrupt):
            fail("interrupted", 130)
        return False


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")
