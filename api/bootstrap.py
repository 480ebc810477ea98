"""Start-up: settings, database, migrations and the application, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from api.database import Database, migrate, open_database, open_ledger
from api.settings import Settings
from domain.application import ExportLedger


@dataclass
class Runtime:
    settings: Settings
    database: Database
    ledger: ExportLedger


@contextmanager
def runtime(settings: Settings | None = None, *, run_migrations: bool = True) -> Iterator[Runtime]:
    """Everything a command needs; migrations run first unless told otherwise."""
    settings = settings or Settings()
    database = open_database(settings)
    if run_migrations:
        migrate(database.url)
    ledger = open_ledger(database, settings)
    try:
        yield Runtime(settings, database, ledger)
    finally:
        ledger.close()
