"""Every runtime role, as the login the application connects as, and what PostgreSQL refuses it.

The runtime never logs in as the schema's owner (projections/db/logins.py): each of
its connections is a LOGIN role that is a member of one least-privilege role
and owns nothing (sql/migrations/0007_logins.sql), so going back to the session
user (RESET ROLE) or on to the owner gives it nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from api.wiring.database import open_ledger
from projections.db.database import Database
from projections.readmodel.follower import Follower
from sql.names import ADMIN_ROLE, LIVE_TABLE, LOGINS, PROJECTOR_ROLE, READER_ROLE, WRITER_ROLE
from tests import pg
from tests.integration.helpers import EVENTS_TABLE, connect_as, request, stored_rows

Conn = psycopg.Connection[dict[str, Any]]
ROLES = [WRITER_ROLE, PROJECTOR_ROLE, READER_ROLE, ADMIN_ROLE]

TAMPERING = {
    "disable-trigger": f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER ALL",
    "drop-trigger": f"DROP TRIGGER exportledger_events_refuse_update ON {EVENTS_TABLE}",
    "drop-table": f"DROP TABLE {EVENTS_TABLE}",
    "truncate": f"TRUNCATE {EVENTS_TABLE}",
    "update": f"UPDATE {EVENTS_TABLE} SET topic = 'tampered'",
    "delete": f"DELETE FROM {EVENTS_TABLE}",
    "drop-read-table": f"DROP TABLE {LIVE_TABLE}",
    "create-table": "CREATE TABLE export_ledger_forged (x int)",
    "alter-function": "ALTER FUNCTION export_ledger_refuse_change() RENAME TO forged",
}


@pytest.fixture(scope="module")
def guarded_url(admin_url: str, template_db: str) -> Iterator[str]:
    name = pg.clone(admin_url, template_db)
    url = pg.with_database(admin_url, name)
    app = open_ledger(Database(url))
    try:
        request(app, "u1")
        request(app, "u2")
    finally:
        app.close()
    with Database(url).projector() as conn:
        Follower(Database(url)).catch_up(conn)
        conn.commit()
    yield url
    pg.drop(admin_url, name)


@pytest.fixture
def intact(guarded_url: str) -> Iterator[None]:
    rows = stored_rows(guarded_url)
    assert len(rows) == 2
    yield
    assert stored_rows(guarded_url) == rows


def owner_of_events(url: str) -> str:
    with connect_as(url) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = %s::regclass",
            (EVENTS_TABLE,),
        ).fetchone()
    assert row is not None
    return str(row["owner"])


def check_login_attributes(url: str, role: str) -> None:
    """A plain login: no attributes, a member of ``role`` only, owner of nothing."""
    with connect_as(url) as conn:
        attributes = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = %s",
            (LOGINS[role],),
        ).fetchone()
        member_of = conn.execute(
            "SELECT array_agg(r.rolname::text) AS roles FROM pg_auth_members m "
            "JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = to_regrole(%s)",
            (LOGINS[role],),
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) AS n FROM pg_class WHERE relowner = to_regrole(%s)", (LOGINS[role],)
        ).fetchone()
    assert attributes == {
        "rolcanlogin": True,
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
    }
    assert member_of == {"roles": [role]}
    assert owned == {"n": 0}


def check_cannot_rewrite_history(url: str, role: str) -> None:
    """As ``role``'s login: neither RESET ROLE nor SET ROLE to the owner gives it the
    right to touch the stored events, their guards, or the schema."""
    owner = owner_of_events(url)
    with connect_as(url, role) as conn:
        assert conn.execute("SELECT session_user AS u").fetchone() == {"u": LOGINS[role]}
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(owner)))
        # RESET ROLE goes back to the role taken on at start-up; SET ROLE NONE to the
        # login itself. Neither is refused, and neither gives anything more.
        for back, now in [(None, role), ("RESET ROLE", role), ("SET ROLE NONE", LOGINS[role])]:
            if back is not None:
                conn.execute(back)
            assert conn.execute("SELECT current_user AS u").fetchone() == {"u": now}
            for name, statement in TAMPERING.items():
                with pytest.raises(errors.InsufficientPrivilege) as caught:
                    conn.execute(statement)
                assert "append-only" not in str(caught.value), name  # no trigger reached


@pytest.mark.parametrize("role", ROLES)
def test_each_login_is_a_member_of_its_role_only(guarded_url: str, role: str) -> None:
    check_login_attributes(guarded_url, role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.usefixtures("intact")
def test_no_runtime_login_can_rewrite_history(guarded_url: str, role: str) -> None:
    check_cannot_rewrite_history(guarded_url, role)


@pytest.mark.usefixtures("intact")
def test_the_projector_writes_the_read_tables_and_tracking_only(guarded_url: str) -> None:
    with connect_as(guarded_url, PROJECTOR_ROLE) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute(f"UPDATE {LIVE_TABLE} SET error_message = 'x'")
            conn.execute("UPDATE export_log_versions SET error_message = 'x'")
            conn.execute("UPDATE read_model_tracking SET position = position")
            conn.execute("INSERT INTO ledger_leaves VALUES (999, 999, %s)", (b"\0" * 32,))
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
                "VALUES (gen_random_uuid(), 1, 'forged', ''::bytea)"
            )
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("SELECT export_ledger_lock_events()")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT export_ledger_swap_read_table('export_logs', 'export_logs')")


@pytest.mark.usefixtures("intact")
def test_the_reader_selects_its_own_rows_and_writes_nothing(guarded_url: str) -> None:
    with connect_as(guarded_url, READER_ROLE) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('export_ledger.user_id', 'u1', true)")
            rows = conn.execute(f"SELECT user_id FROM {LIVE_TABLE}").fetchall()
            assert rows == [{"user_id": "u1"}]
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(ADMIN_ROLE)))
        for statement in [
            f"SELECT * FROM {EVENTS_TABLE}",
            f"UPDATE {LIVE_TABLE} SET error_message = 'x'",
            f"DELETE FROM {LIVE_TABLE}",
            "UPDATE read_model_tracking SET position = 0",
            "INSERT INTO ledger_leaves VALUES (999, 999, '\\x00'::bytea)",
        ]:
            with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(statement)
        conn.execute("SET ROLE NONE")
        assert conn.execute(f"SELECT count(*) AS n FROM {LIVE_TABLE}").fetchone() == {"n": 0}


def test_the_embedded_default_runs_as_the_same_logins(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No setting at all: the embedded server is migrated by its superuser, which
    creates the logins, and every connection the runtime opens is one of them."""
    from api.wiring.bootstrap import bootstrap
    from api.wiring.settings import Settings
    from projections.reads.read_store import Principal

    monkeypatch.delenv("EXPORT_LEDGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXPORT_LEDGER_MIGRATE_DATABASE_URL", raising=False)
    with bootstrap(Settings(data_dir=tmp_path)) as rt:
        assert rt.database.embedded and rt.database.migrate_url == rt.database.url
        state = request(rt.ledger, "u1")
        rt.start_projector(seal=True)
        deadline = time.monotonic() + 20
        while rt.reads.get(Principal("u1"), state.export_id) is None:
            assert time.monotonic() < deadline, "the follower did not fold the export"
            time.sleep(0.05)
        assert rt.watcher.position > 0
        assert rt.reads.get(Principal("admin", admin=True), state.export_id) is not None
        with connect_as(rt.database.url) as conn:
            users = conn.execute(
                "SELECT DISTINCT usename::text AS u FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert {row["u"] for row in users} <= set(LOGINS.values())
        assert {row["u"] for row in users} >= {LOGINS[WRITER_ROLE], LOGINS[READER_ROLE]}
        for role in ROLES:
            check_login_attributes(rt.database.url, role)
            check_cannot_rewrite_history(rt.database.url, role)
