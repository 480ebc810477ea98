"""Stored events can be added and read, never changed or removed.

Two independent guards (sql/migrations/0002_event_store_guard.sql): triggers
that refuse UPDATE, DELETE and TRUNCATE for everyone, the owner and superusers
included; and grants that give the writer role INSERT and SELECT only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from api.wiring.database import open_ledger
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from sql.names import ADMIN_ROLE, PROJECTOR_ROLE, READER_ROLE, WRITER_ROLE
from tests import pg
from tests.integration.helpers import (
    EVENTS_TABLE,
    connect_as,
    connect_writer,
    request,
    stored_rows,
)

Conn = psycopg.Connection[dict[str, Any]]

CHANGES = {
    "update": f"UPDATE {EVENTS_TABLE} SET topic = 'tampered'",
    "update-state": f"UPDATE {EVENTS_TABLE} SET state = ''::bytea WHERE originator_version = 1",
    "update-no-rows": f"UPDATE {EVENTS_TABLE} SET topic = 'tampered' WHERE false",
    "delete": f"DELETE FROM {EVENTS_TABLE}",
    "delete-one": f"DELETE FROM {EVENTS_TABLE} WHERE originator_version = 1",
    "delete-no-rows": f"DELETE FROM {EVENTS_TABLE} WHERE false",
    "truncate": f"TRUNCATE {EVENTS_TABLE}",
    "truncate-cascade": f"TRUNCATE {EVENTS_TABLE} RESTART IDENTITY CASCADE",
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@pytest.fixture(scope="module")
def guarded_url(admin_url: str, template_db: str) -> Iterator[str]:
    """One database with a few events for this module's refusal tests.

    Shared, because nothing may change it: every test checks its rows are intact.
    """
    name = pg.clone(admin_url, template_db)
    url = pg.with_database(admin_url, name)
    app = open_ledger(Database(url))
    try:
        state = request(app)
        app.start_processing(state.export_id)
        request(app, "u2")
    finally:
        app.close()
    yield url
    pg.drop(admin_url, name)


@pytest.fixture
def recorded(guarded_url: str) -> Iterator[list[dict[str, Any]]]:
    """The rows as they were before the test; checked again after it."""
    rows = stored_rows(guarded_url)
    assert len(rows) == 3
    yield rows
    assert stored_rows(guarded_url) == rows


@pytest.fixture
def as_owner(guarded_url: str) -> Iterator[Conn]:
    with connect_as(guarded_url) as conn:
        yield conn


@pytest.fixture
def as_writer(guarded_url: str) -> Iterator[Conn]:
    with connect_writer(guarded_url) as conn:
        yield conn


def _current_user(conn: Conn) -> str:
    row = conn.execute("SELECT current_user AS u").fetchone()
    assert row is not None
    return str(row["u"])


@pytest.mark.parametrize("statement", CHANGES.values(), ids=CHANGES.keys())
@pytest.mark.usefixtures("recorded")
def test_owner_cannot_change_stored_events(as_owner: Conn, statement: str) -> None:
    assert _current_user(as_owner) not in {WRITER_ROLE, PROJECTOR_ROLE, READER_ROLE, ADMIN_ROLE}

    with pytest.raises(errors.InsufficientPrivilege, match="append-only") as caught:
        as_owner.execute(statement)

    assert caught.value.diag.message_hint == "record a new event instead of changing an old one"


def test_owner_is_the_table_owner_and_a_superuser(as_owner: Conn) -> None:
    """So the refusals above come from the triggers, not from missing privileges."""
    row = as_owner.execute(
        "SELECT pg_get_userbyid(c.relowner) = current_user AS owns, "
        "       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        (EVENTS_TABLE,),
    ).fetchone()
    assert row == {"owns": True, "superuser": True}


@pytest.mark.parametrize("statement", CHANGES.values(), ids=CHANGES.keys())
@pytest.mark.usefixtures("recorded")
def test_writer_has_no_privilege_to_change_stored_events(as_writer: Conn, statement: str) -> None:
    assert _current_user(as_writer) == WRITER_ROLE

    with pytest.raises(errors.InsufficientPrivilege, match="permission denied") as caught:
        as_writer.execute(statement)

    assert "append-only" not in str(caught.value)  # refused before any trigger could run


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        (WRITER_ROLE, {"SELECT", "INSERT"}),
        (PROJECTOR_ROLE, {"SELECT"}),
        (ADMIN_ROLE, {"SELECT"}),
        (READER_ROLE, set()),
        ("public", set()),
    ],
)
def test_table_privileges_by_role(as_owner: Conn, role: str, granted: set[str]) -> None:
    held = {
        privilege
        for privilege in PRIVILEGES
        if as_owner.execute(
            "SELECT has_table_privilege(%s, %s, %s) AS ok", (role, EVENTS_TABLE, privilege)
        ).fetchone()["ok"]  # type: ignore[index]
    }
    assert held == granted


def test_only_the_writer_may_take_the_events_lock(as_owner: Conn) -> None:
    for role, allowed in [
        (WRITER_ROLE, True),
        (PROJECTOR_ROLE, False),
        (READER_ROLE, False),
        (ADMIN_ROLE, False),
        ("public", False),
    ]:
        row = as_owner.execute(
            "SELECT has_function_privilege(%s, 'export_ledger_lock_events()', 'EXECUTE') AS ok",
            (role,),
        ).fetchone()
        assert row == {"ok": allowed}, role


INSERT_FUNCTIONS = (
    "export_ledger_insert_events(uuid[], bigint[], text[], bytea[])",
    "export_ledger_insert_event(uuid, bigint, text, bytea)",
)


@pytest.mark.parametrize("function", INSERT_FUNCTIONS)
def test_only_the_writer_may_insert_through_the_functions_which_widen_nothing(
    as_owner: Conn, function: str
) -> None:
    """The one-statement inserts run with their caller's privileges (SECURITY
    INVOKER): they give the writer no more than INSERT, and nobody else anything."""
    for role, allowed in [
        (WRITER_ROLE, True),
        (PROJECTOR_ROLE, False),
        (READER_ROLE, False),
        (ADMIN_ROLE, False),
        ("public", False),
    ]:
        row = as_owner.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE') AS ok", (role, function)
        ).fetchone()
        assert row == {"ok": allowed}, role
    row = as_owner.execute(
        "SELECT prosecdef FROM pg_proc WHERE oid = %s::regprocedure", (function,)
    ).fetchone()
    assert row == {"prosecdef": False}


def test_writer_cannot_lock_the_table_itself_but_can_through_the_function(
    as_writer: Conn,
) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        with as_writer.transaction():
            as_writer.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")

    with as_writer.transaction():
        as_writer.execute("SELECT export_ledger_lock_events()")
        row = as_writer.execute(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() "
            "AND relation = %s::regclass AND granted",
            (EVENTS_TABLE,),
        ).fetchall()
    assert {"mode": "ExclusiveLock"} in row


@pytest.mark.parametrize(
    "statement",
    [
        f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER exportledger_events_refuse_update",
        f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER ALL",
        f"DROP TRIGGER exportledger_events_refuse_delete ON {EVENTS_TABLE}",
        f"DROP TABLE {EVENTS_TABLE}",
    ],
)
@pytest.mark.usefixtures("recorded")
def test_writer_cannot_remove_the_guards(as_writer: Conn, statement: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
        as_writer.execute(statement)


@pytest.mark.usefixtures("recorded")
def test_writer_cannot_grant_itself_more(as_writer: Conn, as_owner: Conn) -> None:
    # PostgreSQL only warns ("no privileges were granted") here; what matters is
    # that nothing changed.
    as_writer.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON {EVENTS_TABLE} TO {WRITER_ROLE}")
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        as_writer.execute(f"DELETE FROM {EVENTS_TABLE}")
    row = as_owner.execute(
        "SELECT has_table_privilege(%s, %s, 'UPDATE, DELETE, TRUNCATE') AS any",
        (WRITER_ROLE, EVENTS_TABLE),
    ).fetchone()
    assert row == {"any": False}


def test_the_guards_are_in_place(as_owner: Conn) -> None:
    rows = as_owner.execute(
        "SELECT tgname, tgenabled FROM pg_trigger "
        "WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
        (EVENTS_TABLE,),
    ).fetchall()
    assert rows == [
        {"tgname": "exportledger_events_refuse_delete", "tgenabled": "O"},
        {"tgname": "exportledger_events_refuse_truncate", "tgenabled": "O"},
        {"tgname": "exportledger_events_refuse_update", "tgenabled": "O"},
        {"tgname": "exportledger_events_shed_export_key", "tgenabled": "O"},  # retention
    ]


def test_ledger_still_writes_and_reads_as_the_writer(
    ledger: ExportLedger, database_url: str
) -> None:
    state = request(ledger)
    ledger.start_processing(state.export_id, actor="worker")
    ledger.fail(state.export_id, error_message="x")
    ledger.retry(state.export_id)

    assert [e.type for e in ledger.history(state.export_id)] == [
        "Requested",
        "ProcessingStarted",
        "Failed",
        "Retried",
    ]
    assert len(stored_rows(database_url)) == 4


def test_writer_can_insert_and_select_directly(writer: Conn, ledger: ExportLedger) -> None:
    state = request(ledger)
    rows = writer.execute(f"SELECT originator_version FROM {EVENTS_TABLE}").fetchall()
    assert rows == [{"originator_version": 1}]
    writer.execute(
        f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
        "VALUES (gen_random_uuid(), 1, 'raw', '\\x7b7d'::bytea)"
    )
    # ...but an insert cannot overwrite: the primary key refuses a second version 1.
    with pytest.raises(errors.UniqueViolation):
        writer.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            f"SELECT originator_id, 1, 'forged', state FROM {EVENTS_TABLE} LIMIT 1"
        )
    with pytest.raises(errors.InsufficientPrivilege):
        writer.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (gen_random_uuid(), 1, 'x', ''::bytea) "
            "ON CONFLICT (originator_id, originator_version) DO UPDATE SET topic = 'forged'"
        )
    assert ledger.get(state.export_id).version == 1


def test_a_writer_connection_cannot_regain_the_owners_rights(writer: Conn) -> None:
    try:
        with writer.transaction(force_rollback=True):
            writer.execute("SET LOCAL ROLE NONE")
            writer.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER ALL")
            writer.execute(f"UPDATE {EVENTS_TABLE} SET topic = 'tampered'")
    except errors.InsufficientPrivilege:
        return  # the writer's login owns nothing: RESET ROLE gives it no more
    pytest.fail("a writer connection disabled the append-only triggers and updated events")
