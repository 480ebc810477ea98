from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.wiring.database import open_ledger
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from tests import pg


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    with pg.test_server() as url:
        yield url


@pytest.fixture(scope="session")
def template_db(admin_url: str) -> Iterator[str]:
    name = pg.make_template(admin_url)
    yield name
    pg.drop(admin_url, name)


@pytest.fixture
def database_url(admin_url: str, template_db: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    name = pg.clone(admin_url, template_db)
    yield pg.with_database(admin_url, name)
    pg.drop(admin_url, name)


@pytest.fixture
def ledger(database_url: str) -> Iterator[ExportLedger]:
    app = open_ledger(Database(database_url))
    yield app
    app.close()
