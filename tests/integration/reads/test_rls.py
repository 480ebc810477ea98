"""Row-level security of export_logs, for each role, as the application connects.

export_ledger_reader sees only the rows of the user named by the transaction's
``export_ledger.user_id`` setting and may write none; export_ledger_admin reads
every row; export_ledger_projector (the follower and the rebuild) writes.
The same holds for a table a rebuild swapped in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from sql.names import ADMIN_ROLE, PROJECTOR_ROLE, READER_ROLE
from tests.integration.readmodel_helpers import catch_up, complete, request, rows_by_export_id

Conn = psycopg.Connection[Any]


@pytest.fixture
def exports(ledger: ExportLedger, database_url: str) -> dict[str, list[str]]:
    """Two exports of user A, one of user B, folded into export_logs."""
    found = {"A": [request(ledger, "A"), request(ledger, "A")], "B": [request(ledger, "B")]}
    complete(ledger, found["A"][0])
    catch_up(database_url)
    return found


def connect(url: str, role: str) -> Conn:
    return psycopg.connect(url, options=f"-c role={role}")


@pytest.fixture
def reader(database_url: str) -> Iterator[Conn]:
    with connect(database_url, READER_ROLE) as conn:
        yield conn


def visible(conn: Conn, user: str | None = None) -> set[str]:
    """The export ids the connection sees, in a transaction for ``user``."""
    with conn.transaction():
        if user is not None:
            conn.execute("SELECT set_config('export_ledger.user_id', %s, true)", (user,))
        return {r[0] for r in conn.execute("SELECT export_id FROM export_logs").fetchall()}


def refused(conn: Conn, user: str, statement: str, *params: Any) -> None:
    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
        conn.execute("SELECT set_config('export_ledger.user_id', %s, true)", (user,))
        conn.execute(statement, params)


def test_a_reader_sees_only_its_users_rows(reader: Conn, exports: dict[str, list[str]]) -> None:
    assert visible(reader, "A") == set(exports["A"])
    assert visible(reader, "B") == set(exports["B"])
    with reader.transaction():
        reader.execute("SELECT set_config('export_ledger.user_id', 'A', true)")
        row = reader.execute(
            "SELECT count(*) FROM export_logs WHERE export_id = %s", (exports["B"][0],)
        ).fetchone()
        assert row == (0,)  # B's row, asked for by id, is not there for A


def test_without_a_user_a_reader_sees_nothing(
    database_url: str, reader: Conn, exports: dict[str, list[str]]
) -> None:
    assert visible(reader) == set()  # never set on this connection
    assert visible(reader, "A")  # set for one transaction only...
    assert visible(reader) == set()  # ...and gone after it
    assert visible(reader, "") == set()
    assert visible(reader, "nobody") == set()


def test_a_reader_writes_nothing_not_even_its_own_rows(
    reader: Conn, exports: dict[str, list[str]], database_url: str
) -> None:
    before = rows_by_export_id(database_url)
    own, other = exports["A"][0], exports["B"][0]
    refused(reader, "A", "UPDATE export_logs SET status = 'failed' WHERE export_id = %s", own)
    refused(reader, "A", "UPDATE export_logs SET user_id = 'A' WHERE export_id = %s", other)
    refused(reader, "A", "DELETE FROM export_logs WHERE export_id = %s", own)
    refused(
        reader,
        "A",
        "INSERT INTO export_logs SELECT gen_random_uuid(), 'exp_FORGED', user_id, \"timestamp\","
        " format, config, conversation_count, file_size, status, file_url, expires_at,"
        " error_message, created_at, updated_at, version, position"
        " FROM export_logs WHERE export_id = %s",
        own,
    )
    refused(reader, "A", "UPDATE read_model_tracking SET position = 0")
    # Nor read the events behind the table (other users' exports are in there).
    refused(reader, "A", "SELECT count(*) FROM exportledger_events")
    assert rows_by_export_id(database_url) == before


def test_an_admin_sees_every_row_and_writes_none(
    database_url: str, exports: dict[str, list[str]]
) -> None:
    everyone = {*exports["A"], *exports["B"]}
    with connect(database_url, ADMIN_ROLE) as admin:
        assert visible(admin) == everyone
        assert visible(admin, "A") == everyone
        refused(admin, "A", "UPDATE export_logs SET status = 'failed'")
        refused(admin, "A", "DELETE FROM export_logs")


def test_the_projector_writes(database_url: str, exports: dict[str, list[str]]) -> None:
    own = exports["A"][1]
    with connect(database_url, PROJECTOR_ROLE) as projector:
        assert visible(projector) == {*exports["A"], *exports["B"]}
        with projector.transaction():
            projector.execute(
                "UPDATE export_logs SET status = 'processing' WHERE export_id = %s", (own,)
            )
            projector.execute("DELETE FROM export_logs WHERE export_id = %s", (exports["B"][0],))
            projector.execute(
                "INSERT INTO export_logs SELECT gen_random_uuid(), 'exp_BYPROJECTOR', 'C',"
                ' "timestamp", format, config, conversation_count, file_size, status,'
                " file_url, expires_at, error_message, created_at, updated_at, version,"
                " position FROM export_logs WHERE export_id = %s",
                (own,),
            )
            projector.execute(
                "UPDATE read_model_tracking SET updated_at = now() WHERE table_name = 'export_logs'"
            )
    rows = rows_by_export_id(database_url)
    assert rows[own]["status"] == "processing"
    assert exports["B"][0] not in rows
    assert rows["exp_BYPROJECTOR"]["user_id"] == "C"


def test_a_rebuilt_table_has_the_same_security(
    ledger: ExportLedger, database_url: str, exports: dict[str, list[str]], reader: Conn
) -> None:
    report = rebuild(Database(database_url))
    assert report.swapped and report.rows == 3
    assert visible(reader, "A") == set(exports["A"])
    assert visible(reader, "B") == set(exports["B"])
    assert visible(reader) == set()
    refused(reader, "A", "UPDATE export_logs SET status = 'failed' WHERE user_id = 'A'")
    with connect(database_url, ADMIN_ROLE) as admin:
        assert len(visible(admin)) == 3
    # And the follower (as the projector) can still write to it.
    late = request(ledger, "A")
    catch_up(database_url)
    assert visible(reader, "A") == {*exports["A"], late}
