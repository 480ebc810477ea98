"""The export keys on a real database: one row per export, made with its first event
(in one statement for a bulk write), read by range by the folds; an erasure destroys
the subject's key and every export key of theirs in one statement, and no key made
while it runs outlives it; a key shed by the retention's UPDATE reads as shed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from api.wiring.database import ledger_env
from domain.exceptions import ExportKeyMissing, SubjectErased
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from domain.privacy import SHED_TEXT, shed_value
from domain.sync.rows import SourceRow
from projections.audit.subject_report import opened_problem, report_batches
from projections.db.database import Database
from projections.readmodel.changes import decode
from projections.readmodel.rebuild import rebuild
from projections.readmodel.store import project_batch
from projections.subject_keys import KeySnapshot, KeyTable, ReadModelSubjects
from sql import statement
from sql.names import ADMIN_ROLE, EVENTS_TABLE, WRITER_ROLE
from tests.integration.readmodel_helpers import catch_up

SHED = (
    "UPDATE export_keys SET key = NULL, shed_at = now() WHERE aggregate_id = %s AND key IS NOT NULL"
)
"""Shedding an export's key, as the retention does it (the interface it follows)."""


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def life(ledger: ExportLedger, user: str) -> str:
    export_id = ledger.request_export(
        user_id=user, format="csv", config={"name": f"{user}-filter"}, conversation_count=1
    ).export_id
    ledger.start_processing(export_id, actor="worker")
    ledger.complete(export_id, file_size=1, file_url=f"s3://{user}.csv")
    return export_id


def key_table(url: str) -> KeyTable:
    env = ledger_env(url, pool_size=2)
    return KeyTable.from_env(env)


@pytest.fixture
def table(database_url: str) -> Iterator[KeyTable]:
    keys = key_table(database_url)
    yield keys
    keys.close()


def test_an_export_has_one_key_made_with_its_first_event(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = life(ledger, "alice")
    found = rows(database_url, "SELECT aggregate_id, subject, key IS NOT NULL FROM export_keys")
    assert found == [(aggregate_id(export_id), ledger.subject_keys.pseudonym("alice"), True)]
    stored = rows(database_url, f"SELECT convert_from(state, 'UTF8') FROM {EVENTS_TABLE}")
    assert all("alice-filter" not in s and "s3://alice" not in s for (s,) in stored)
    catch_up(database_url)
    live = rows(database_url, "SELECT user_id, config, file_url FROM export_logs")
    assert live == [("alice", {"name": "alice-filter"}, "s3://alice.csv")]
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


def _row(n: int) -> SourceRow:
    now = datetime.now(UTC)
    return SourceRow(
        id=str(n), export_id=str(uuid4()), user_id=f"user-{n % 7}", timestamp=now,
        format="csv", config={"n": n}, conversation_count=1, file_size=1,
        status="completed", file_url=f"s3://{n}.csv", expires_at=now + timedelta(days=1),
        error_message=None, created_at=now, updated_at=now,
    )  # fmt: skip


def test_an_import_makes_its_exports_keys_in_one_statement(
    ledger: ExportLedger, database_url: str, key_statements: list[str]
) -> None:
    results = ledger.sync_rows([_row(n) for n in range(60)])
    assert {r.outcome for r in results} == {"created"}
    assert key_statements == ["make_export_keys"]
    assert rows(database_url, "SELECT count(*), count(DISTINCT key) FROM export_keys") == [(60, 60)]
    catch_up(database_url)
    urls = rows(database_url, "SELECT count(*) FROM export_logs WHERE file_url LIKE 's3://%%'")
    assert urls == [(60,)]


def test_an_erasure_destroys_every_export_key_of_the_subject_in_one_statement(
    ledger: ExportLedger, database_url: str
) -> None:
    alice = [life(ledger, "alice") for _ in range(3)]
    bob = life(ledger, "bob")
    catch_up(database_url)
    erasure = ledger.erase_subject(
        "alice", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    assert sorted(erasure.export_ids) == sorted(alice)
    found = rows(
        database_url,
        "SELECT k.aggregate_id, k.key IS NULL, k.erased_at = s.erased_at, k.shed_at"
        " FROM export_keys k JOIN subject_keys s USING (subject) ORDER BY 1",
    )
    destroyed = {(aggregate_id(e), True, True, None) for e in alice}
    assert set(found) == destroyed | {(aggregate_id(bob), False, None, None)}
    with pytest.raises(SubjectErased):
        ledger.request_export(user_id="alice", format="csv", config={}, conversation_count=1)
    catch_up(database_url)
    live = rows(database_url, "SELECT config, file_url FROM export_logs WHERE user_id <> 'bob'")
    assert live == [({"erased": True}, "[erased]")] * 3


def test_keys_made_while_an_erasure_runs_do_not_outlive_it(database_url: str) -> None:
    """Writers making export keys for the subject while it is erased: each key is made
    before the erasure (and destroyed by it) or refused after it; none stays live."""
    tables = [key_table(database_url) for _ in range(9)]
    try:
        subject = tables[0].pseudonym("carol")
        tables[0].writing_key(subject)
        start, made, refused = threading.Barrier(len(tables)), [], []

        def write(keys: KeyTable) -> None:
            start.wait()
            for _ in range(30):
                try:
                    keys.export_writing_key(uuid4(), subject, make=True)
                    made.append(1)
                except SubjectErased:
                    refused.append(1)

        def erase() -> None:
            start.wait()
            tables[-1].erase(subject, [])

        threads = [threading.Thread(target=write, args=(k,)) for k in tables[:-1]]
        threads.append(threading.Thread(target=erase))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for keys in tables:
            keys.close()
    assert refused, "no writer came after the erasure"
    live = rows(database_url, "SELECT count(*) FROM export_keys WHERE key IS NOT NULL")
    assert live == [(0,)]
    assert rows(database_url, "SELECT count(*) FROM export_keys") == [(len(made),)]


def test_writers_racing_to_make_one_exports_key_get_the_same_key(database_url: str) -> None:
    tables = [key_table(database_url) for _ in range(8)]
    try:
        subject = tables[0].pseudonym("dave")
        tables[0].writing_key(subject)
        export, start, got = uuid4(), threading.Barrier(len(tables)), []

        def make(keys: KeyTable) -> None:
            start.wait()
            got.append(keys.export_writing_key(export, subject, make=True))

        threads = [threading.Thread(target=make, args=(k,)) for k in tables]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for keys in tables:
            keys.close()
    assert len(got) == 8 and len(set(got)) == 1 and got[0] is not None
    assert rows(database_url, "SELECT count(*) FROM export_keys") == [(1,)]


def test_an_export_without_a_key_is_read_as_recorded_before_export_keys(table: KeyTable) -> None:
    assert table.export_writing_key(uuid4(), table.pseudonym("erin"), make=False) is None
    with pytest.raises(ExportKeyMissing):
        table.export_reading_key(uuid4(), "somebody")


def _decoded(url: str) -> list[Any]:
    with Database(url).connect(ADMIN_ROLE) as conn, conn.transaction():
        stored = conn.execute(statement("read_model", "events_after"),
                              {"after": 0, "upto": 2**62, "limit": 1000}).fetchall()  # fmt: skip
        keys = KeySnapshot(conn).preload_exports({r[1] for r in stored})
        return [c for r in stored if (c := decode(r, keys)) is not None]


def test_a_key_shed_by_the_retentions_update_reads_as_shed(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = life(ledger, "frank")
    with Database(database_url).connect(WRITER_ROLE) as conn:
        assert conn.execute(SHED, (aggregate_id(export_id),)).rowcount == 1
        conn.commit()
        assert conn.execute(SHED, (aggregate_id(export_id),)).rowcount == 0  # shed already
        conn.commit()
    changes = _decoded(database_url)
    assert [c.type for c in changes] == ["Requested", "ProcessingStarted", "Completed"]
    assert changes[0].data["user_id"] == "frank"
    assert changes[0].data["config"] == shed_value("config") == {"shed": True}
    assert changes[2].data["file_url"] == SHED_TEXT
    fresh = ExportLedger(env=ledger.env)  # no key cached
    try:
        state = fresh.get(export_id)
        assert (state.user_id, state.config, state.file_url) == ("frank", {"shed": True}, SHED_TEXT)
    finally:
        fresh.close()
    with Database(database_url).connect(ADMIN_ROLE) as conn, conn.transaction():
        records = [r for batch in report_batches(conn, "frank") for r in batch]
    assert records[0]["opened"]["config"] == {"shed": True} and "export_key" not in records[0]
    assert records[0]["sealed_by"] == {"user_id": "subject", "config": "export", "actor": "subject"}
    assert all(opened_problem(r) is None for r in records)


def test_a_fold_whose_export_key_is_missing_names_the_export(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = life(ledger, "gina")
    rows_deleted = "DELETE FROM export_keys WHERE aggregate_id = %s"
    with psycopg.connect(database_url) as conn:
        conn.execute(rows_deleted, (aggregate_id(export_id),))
    with Database(database_url).projector() as conn, pytest.raises(ExportKeyMissing) as missing:
        project_batch(conn)
    assert str(aggregate_id(export_id)) in str(missing.value)


def test_the_report_carries_each_records_keys_and_checks_them(
    ledger: ExportLedger, database_url: str
) -> None:
    export_id = life(ledger, "hugo")
    ledger.delete(export_id, actor="hugo", reason="hugo asked")
    with Database(database_url).connect(ADMIN_ROLE) as conn, conn.transaction():
        records = [r for batch in report_batches(conn, "hugo") for r in batch]
    assert all(r["report_format"] == 2 and r["subject_key"] for r in records)
    assert records[0]["export_key"] and records[2]["opened"]["file_url"] == "s3://hugo.csv"
    assert records[-1]["opened"] == {"actor": "hugo", "reason": "hugo asked"}
    assert "export_key" not in records[1]  # ProcessingStarted: nothing under the export's key
    assert all(opened_problem(r) is None for r in records)
    swapped = {**records[0], "export_key": records[0]["subject_key"]}
    assert opened_problem(swapped) == "its config does not open with the export_key given"
    told = {**records[0], "sealed_by": {"config": "subject"}}
    assert "sealed_by says 'subject' for config" in str(opened_problem(told))
    assert opened_problem({**records[0], "report_format": 3}) is not None
