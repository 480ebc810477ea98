"""Throwaway PostgreSQL databases for tests: one migrated template per run,
cloned for every test, on the server named by EXPORT_LEDGER_TEST_DATABASE_URL
or, when it is unset, on an embedded server in a temporary directory."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from api.wiring.database import create_database, migrate

TEST_URL_VARIABLE = "EXPORT_LEDGER_TEST_DATABASE_URL"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def test_server() -> Iterator[str]:
    """Yields an admin URL: the configured server, or a fresh embedded one."""
    configured = os.environ.get(TEST_URL_VARIABLE)
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="export-ledger-test-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


def new_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def make_template(admin_url: str) -> str:
    name = new_name("el_tpl")
    create_database(admin_url, name)
    migrate(with_database(admin_url, name))
    return name


def clone(admin_url: str, template: str) -> str:
    name = new_name("el_t")
    create_database(admin_url, name, template=template)
    return name


def drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
