"""A throwaway PostgreSQL cluster on a loopback port to be a live sync's source
(``wal_level = logical`` unless told otherwise), and the helpers of the live sync's
tests: a source database with the seed's table, the follow run in-process or as a
process of its own, and waiting on the ledger's stored position."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests import pg
from tests.integration.standby import (
    Server,
    _service_user,
    _wait_stopped,
    free_port,
    server_binaries,
)

_MAIN = "from api.cli.main import main; main()"
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = {wal_level}
max_wal_senders = 20
max_replication_slots = 20
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
"""


def source_binaries() -> Path | None:
    """The server programs of the source cluster: EXPORT_LEDGER_TEST_SOURCE_BIN (e.g. the
    pgserver wheel's PostgreSQL 16), else those the replica tests use."""
    given = os.environ.get("EXPORT_LEDGER_TEST_SOURCE_BIN")
    return Path(given) if given else server_binaries()


@contextmanager
def source_cluster(
    bin_dir: Path, wal_level: str = "logical", *, durable: bool = False
) -> Iterator[Server]:
    """A cluster to follow, its superuser ``postgres`` trusted on loopback (``durable``:
    with fsync and full page writes, as a production source runs)."""
    user = _service_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="export-ledger-sync-"))
    server = Server(bin_dir, root / "data", free_port(), user)
    try:
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server.run(
            "initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "--locale=C",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with (server.data / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(port=server.port, wal_level=wal_level))
            if durable:
                conf.write("fsync = on\nfull_page_writes = on\n")
        server.start()
        yield server
    finally:
        server.kill()
        _wait_stopped([server])
        shutil.rmtree(root, ignore_errors=True)


def new_source_database(server: Server) -> str:
    """A new database on the cluster holding the seed's (empty) table; its URL."""
    from tests.seed_table import create_table

    name = pg.new_name("el_sync")
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.url(name)
    with psycopg.connect(url) as conn:
        create_table(conn, "export_logs", indexes=False)
    return url


def stored_position(ledger_url: str, slot: str) -> dict[str, Any] | None:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT phase, end_lsn::text, ordinal, done, changes_applied FROM sync_positions "
            "WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    if row is None:
        return None
    return dict(zip(("phase", "end_lsn", "ordinal", "done", "changes_applied"), row, strict=True))


def wait_for(check: Callable[[], bool], what: str, seconds: float = 120.0) -> None:
    """Poll ``check`` until it holds (a bound against hanging, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def follow_process(
    ledger_url: str, source: str, data_dir: Path, *args: str
) -> subprocess.Popen[bytes]:
    """``export-ledger import --from SOURCE --follow ARGS`` as a process of its own."""
    env = {
        **os.environ,
        "EXPORT_LEDGER_DATABASE_URL": ledger_url,
        "EXPORT_LEDGER_DATA_DIR": str(data_dir),
    }
    command = [sys.executable, "-c", _MAIN, "import", "--from", source, "--follow", *args]
    with (data_dir / "follow.log").open("ab") as log:  # the process keeps its own copy
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def source_database(server: Server) -> Iterator[str]:
    """:func:`new_source_database`, its slots dropped after (slot names are the
    cluster's, not the database's)."""
    url = new_source_database(server)
    try:
        yield url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE database = current_database()"
            )
