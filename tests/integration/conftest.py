"""Fixtures of the integration tests, on top of tests/conftest.py's fresh database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from api.wiring.database import ledger_env
from api.wiring.signing import Ed25519Signer, generate
from domain.ledger.application import ExportLedger
from tests.integration.helpers import connect_as, connect_writer


@pytest.fixture
def owner(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection as the URL's user: the tables' owner (a superuser in tests)."""
    with connect_as(database_url) as conn:
        yield conn


@pytest.fixture
def writer(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection that has taken on the export_ledger_writer role, as the ledger does."""
    with connect_writer(database_url) as conn:
        yield conn


@pytest.fixture
def open_ledgers(database_url: str) -> Iterator[Callable[..., ExportLedger]]:
    """Opens further ledgers on the test's database (another API worker, say);
    each is closed at the end of the test."""
    opened: list[ExportLedger] = []

    def open_one(**env_options: Any) -> ExportLedger:
        app = ExportLedger(env=ledger_env(database_url, **env_options))
        opened.append(app)
        return app

    yield open_one
    for app in opened:
        app.close()


@pytest.fixture
def signer() -> Ed25519Signer:
    """A fresh checkpoint-signing key for the test."""
    return generate()
