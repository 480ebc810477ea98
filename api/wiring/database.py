"""Finding the database (the configured URL, or an embedded server) and migrating it."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.wiring.settings import Settings
from domain.exceptions import ConfigurationError, StoreUnavailable
from domain.ledger.application import ExportLedger
from domain.privacy import SUBJECT_KEYS_TOPIC
from projections.db.database import Database
from sql import migration_scripts, statement
from sql.names import LOGINS, WRITER_ROLE

EMBEDDED_DATABASE = "export_ledger"
_MIGRATION_LOCK = 0x4578_4C65_6467  # "ExLedg": one migrator at a time per database


def open_database(settings: Settings) -> Database:
    owner = settings.migrate_database_url
    owner_url = owner.get_secret_value() if owner is not None else None
    if settings.database_url is not None:
        return Database(url=settings.database_url.get_secret_value(), owner_url=owner_url)
    if owner_url is not None:
        raise ConfigurationError(
            "EXPORT_LEDGER_MIGRATE_DATABASE_URL needs EXPORT_LEDGER_DATABASE_URL as well"
        )
    return start_embedded(settings.data_dir / "pgdata")


def start_embedded(pgdata: Path, database: str = EMBEDDED_DATABASE) -> Database:
    """Start (or join) the embedded PostgreSQL in ``pgdata`` and make sure the
    database exists. The server stops when the last process using it exits."""
    with warnings.catch_warnings():  # it warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # importing it sets up a lock file

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    create_database(server.get_uri(), database)
    return Database(url=server.get_uri(database), server=server)


def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE unless it exists (optionally as a copy of ``template``)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(statement("database", "database_exists"), {"name": name})
        if exists.fetchone():
            return
        create = (
            statement("database", "create_database_from", database=name, template=template)
            if template
            else statement("database", "create_database", database=name)
        )
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(create)


_DATASTORE_PARAMS = frozenset({"dbname", "host", "port", "user", "password"})
LIBPQ_OPTIONS_KEY = "LEDGER_DB_LIBPQ_OPTIONS"  # read by api.wiring.eventstore.Factory


def ledger_env(
    url: str,
    *,
    role: str | None = WRITER_ROLE,
    pool_size: int = 4,
    lock_timeout_seconds: int = 10,
    create_table: bool = False,
) -> dict[str, str]:
    """The ``eventsourcing`` settings for a PostgreSQL URL: as ``role``'s login
    (sql.names.LOGINS), or with no role as the URL's own user (the migrator).

    The library's datastore takes only dbname, host, port, user and password;
    libpq takes comma-separated hosts and ports as they are, so a multi-host
    URL keeps its hosts. Every other libpq option of the URL
    (``target_session_attrs``, ``sslmode``, ``application_name``,
    ``connect_timeout``, ...) travels as a conninfo string that the factory
    adds to the pool's connection arguments: without ``target_session_attrs``
    a multi-host pool connects to whichever node answers first, standby or not.
    """
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.ProgrammingError as error:
        raise ConfigurationError(f"bad database URL: {error}") from None
    env = {
        "PERSISTENCE_MODULE": "api.wiring.eventstore",
        "POSTGRES_DBNAME": params.get("dbname") or params.get("user") or "postgres",
        "POSTGRES_HOST": params.get("host") or "localhost",
        "POSTGRES_PORT": params.get("port") or "5432",
        "POSTGRES_USER": LOGINS[role] if role else params.get("user") or "postgres",
        "POSTGRES_PASSWORD": params.get("password") or "",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout_seconds),
        "POSTGRES_PRE_PING": "n",  # with pre-ping, pool back-off stalls recovery ~16 s
        "CREATE_TABLE": "y" if create_table else "n",
        # The subjects' keys, in the same database (domain/privacy).
        SUBJECT_KEYS_TOPIC: "projections.subject_keys:KeyTable",
    }
    options = {k: v for k, v in params.items() if k not in _DATASTORE_PARAMS}
    if options:
        env[LIBPQ_OPTIONS_KEY] = make_conninfo("", **options)
    if role:
        env["LEDGER_DB_ROLE"] = role
    return env


def open_ledger(
    database: Database, settings: Settings | None = None, *, group_commit: bool = False
) -> ExportLedger:
    settings = settings or Settings()
    return ExportLedger(
        env=ledger_env(
            database.url,
            pool_size=settings.pool_size,
            lock_timeout_seconds=settings.lock_timeout_seconds,
        ),
        group_commit=group_commit,
    )


def migrate(url: str) -> list[str]:
    """Create the library's tables, then apply every ``sql/migrations`` file.

    Idempotent, and safe to run from several processes at once: an advisory
    lock lets one migrator in at a time. Returns the files applied.
    """
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            _refuse_read_only(conn, url)
            conn.execute(statement("database", "take_migration_lock"), {"key": _MIGRATION_LOCK})
            ExportLedger(env=ledger_env(url, role=None, pool_size=1, create_table=True)).close()
            applied = []
            with conn.transaction():
                for name, script in migration_scripts():
                    conn.execute(script.encode())
                    applied.append(name)
            conn.execute(statement("database", "release_migration_lock"), {"key": _MIGRATION_LOCK})
            return applied
    except psycopg.OperationalError as error:
        raise StoreUnavailable(f"cannot reach the database: {error}") from None


def _refuse_read_only(conn: psycopg.Connection[Any], url: str) -> None:
    """Migrating needs the primary: a standby (or a read-only server) is named, not migrated."""
    row = conn.execute(statement("database", "read_only")).fetchone()
    if row and row[0]:
        where = f"{conn.info.host}:{conn.info.port}"
        raise StoreUnavailable(
            f"the database at {where} is read-only (a standby, or in recovery), and migrations "
            "need the primary: give the primary's URL, or with several hosts add "
            f"target_session_attrs=read-write ({redacted(url)})"
        )


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable URL>"
    params.pop("password", None)
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None})
