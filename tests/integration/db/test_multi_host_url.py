"""A multi-host URL against a real primary and standby: every pool finds the primary.

The standby is named first, so a pool that dropped ``target_session_attrs``
would connect to it and fail its first write; migrations refuse a standby
with a clear error instead of failing halfway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.wiring.bootstrap import bootstrap
from api.wiring.database import create_database, migrate
from api.wiring.settings import Settings
from domain.exceptions import StoreUnavailable
from projections.db.database import Database
from projections.projector import Projector
from tests import pg
from tests.integration.helpers import request
from tests.integration.standby import Server, primary_and_standby, server_binaries

APP_NAME = "ledger-multi-host"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Server, Server]]:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server programs (initdb, pg_basebackup) on this machine")
    with primary_and_standby(binaries) as servers:
        yield servers


def _multi_host(standby: Server, primary: Server, database: str, attrs: str) -> str:
    return (
        f"postgresql://postgres@127.0.0.1:{standby.port},127.0.0.1:{primary.port}/{database}"
        f"?target_session_attrs={attrs}&application_name={APP_NAME}&connect_timeout=3"
    )


def _wait_database_on(server: Server, name: str) -> None:
    for _ in range(400):
        try:
            psycopg.connect(server.url(name), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise AssertionError(f"{name} never reached the standby")


def test_migrations_refuse_a_standby_with_a_clear_error(cluster: tuple[Server, Server]) -> None:
    primary, standby = cluster
    name = pg.new_name("el_multi")
    create_database(primary.url(), name)
    _wait_database_on(standby, name)
    with pytest.raises(StoreUnavailable, match=r"read-only .*target_session_attrs=read-write"):
        migrate(standby.url(name))


def test_every_pool_of_a_multi_host_url_reaches_the_primary(
    cluster: tuple[Server, Server], tmp_path: Path
) -> None:
    primary, standby = cluster
    name = pg.new_name("el_multi")
    create_database(primary.url(), name)
    url = _multi_host(standby, primary, name, "read-write")
    migrate(url)  # lands on the primary, though the standby is named first
    settings = Settings(database_url=url, data_dir=tmp_path)  # type: ignore[arg-type]
    with bootstrap(settings) as runtime:
        state = request(runtime.ledger)
        projector = Projector(Database(runtime.database.url)).start()
        try:
            assert runtime.watcher.wait_for(1, 30)
            runtime.reads.readiness()
            with psycopg.connect(primary.url(name)) as conn:
                names = {
                    row[0]
                    for row in conn.execute(
                        "SELECT usename FROM pg_stat_activity WHERE application_name = %s",
                        (APP_NAME,),
                    )
                }
        finally:
            projector.stop()
    assert state.export_id
    # the library's write pool, the follower's and the readers' all on the primary, by name
    assert {
        "export_ledger_writer_login",
        "export_ledger_projector_login",
        "export_ledger_reader_login",
    } <= names


def test_a_command_on_a_standby_says_so_in_one_line(
    cluster: tuple[Server, Server], tmp_path: Path
) -> None:
    primary, standby = cluster
    name = pg.new_name("el_multi")
    create_database(primary.url(), name)
    migrate(primary.url(name))
    _wait_database_on(standby, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_LEDGER_")}
    env |= {
        "EXPORT_LEDGER_DATABASE_URL": standby.url(name),
        "EXPORT_LEDGER_DATA_DIR": str(tmp_path),
    }
    program = str(Path(sys.executable).parent / "export-ledger")
    result = subprocess.run(
        [program, "verify"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is read-only" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
