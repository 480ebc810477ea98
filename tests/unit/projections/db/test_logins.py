"""Which URL each kind of connection uses, without a database."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr, ValidationError

from api.wiring.database import ledger_env, open_database
from api.wiring.settings import Settings
from domain.exceptions import ConfigurationError
from projections.db.logins import login_conninfo
from sql.names import LOGINS, PROJECTOR_ROLE, WRITER_ROLE

RUNTIME = "postgresql://anyone:secret@db.example:6543/ledger?sslmode=require"
OWNER = "postgresql://owner:other@db.example:6543/ledger"


def test_a_login_keeps_the_server_and_password_and_replaces_the_user() -> None:
    params = conninfo_to_dict(login_conninfo(RUNTIME, PROJECTOR_ROLE))
    assert params == {
        "user": LOGINS[PROJECTOR_ROLE],
        "password": "secret",
        "host": "db.example",
        "port": "6543",
        "dbname": "ledger",
        "sslmode": "require",
    }


def test_the_ledger_logs_in_as_the_writer_and_the_migrator_as_the_owner() -> None:
    assert ledger_env(RUNTIME)["POSTGRES_USER"] == LOGINS[WRITER_ROLE]
    assert ledger_env(OWNER, role=None)["POSTGRES_USER"] == "owner"


def test_one_url_is_both_the_runtimes_and_the_owners() -> None:
    database = open_database(Settings(database_url=SecretStr(OWNER)))
    assert database.url == database.migrate_url == OWNER


def test_the_owners_url_is_for_migrations_only() -> None:
    settings = Settings(database_url=SecretStr(RUNTIME), migrate_database_url=SecretStr(OWNER))
    database = open_database(settings)
    assert (database.url, database.migrate_url) == (RUNTIME, OWNER)


def test_an_owners_url_alone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORT_LEDGER_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="needs EXPORT_LEDGER_DATABASE_URL"):
        open_database(Settings(migrate_database_url=SecretStr(OWNER)))


def test_the_owners_url_must_be_postgresql() -> None:
    with pytest.raises(ValidationError, match="EXPORT_LEDGER_MIGRATE_DATABASE_URL takes"):
        Settings(migrate_database_url=SecretStr("mysql://x"))
