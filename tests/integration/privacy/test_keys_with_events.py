"""A new export's key is stored in the transaction of its first events
(sql/migrations/0016_export_keys_with_events.sql): no statement of its own, the same
shared transaction under group commit, and nothing stored when its subject was erased
by another process since this one read the subject's key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from api.wiring.database import ledger_env
from domain.exceptions import SubjectErased
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.readmodel.rebuild import rebuild
from projections.subject_keys import ReadModelSubjects
from sql.names import EVENTS_TABLE
from tests.integration.readmodel_helpers import catch_up


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture
def grouped(database_url: str) -> Iterator[ExportLedger]:
    ledger = ExportLedger(env=ledger_env(database_url, pool_size=4), group_commit=True)
    yield ledger
    ledger.close()


def request(ledger: ExportLedger, user: str, status: str | None = None) -> str:
    return ledger.request_export(
        user_id=user, format="csv", config={"name": f"{user}-filter"}, conversation_count=1,
        status=status,
    ).export_id  # fmt: skip


def test_a_create_stores_its_key_with_its_events(
    ledger: ExportLedger, database_url: str, key_statements: list[str]
) -> None:
    one = request(ledger, "alice")
    several = request(ledger, "alice", status="processing")  # two events, one key
    ledger.complete(several, file_size=1, file_url="s3://alice.csv")  # the key, cached
    assert key_statements == []
    found = rows(database_url, "SELECT aggregate_id FROM export_keys ORDER BY 1")
    assert sorted(found) == sorted([(aggregate_id(one),), (aggregate_id(several),)])
    catch_up(database_url)
    query = "SELECT config, file_url FROM export_logs WHERE id = %s"
    live = rows(database_url, query, aggregate_id(several))
    assert live == [({"name": "alice-filter"}, "s3://alice.csv")]
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


def test_group_commit_stores_every_key_of_its_batches(
    grouped: ExportLedger, database_url: str, key_statements: list[str]
) -> None:
    made: list[str] = []

    def create(n: int) -> None:
        for _ in range(10):
            made.append(request(grouped, f"user-{n % 5}"))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 160 and key_statements == []
    keys = rows(database_url, "SELECT count(*), count(DISTINCT key) FROM export_keys")
    assert keys == [(160, 160)]
    catch_up(database_url)
    opened = rows(database_url, "SELECT count(*) FROM export_logs WHERE config ? 'name'")
    assert opened == [(160,)]
    assert not rebuild(Database(database_url), swap=False, history=True).differences.drifted


def test_a_create_after_another_process_erased_its_subject_stores_nothing(
    ledger: ExportLedger, open_ledgers: Callable[..., ExportLedger], database_url: str
) -> None:
    request(ledger, "alice")  # this process now holds alice's key for a moment
    other = open_ledgers(pool_size=2)
    catch_up(database_url)
    other.erase_subject(
        "alice", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    events_before = rows(database_url, f"SELECT count(*) FROM {EVENTS_TABLE}")
    with pytest.raises(SubjectErased):
        request(ledger, "alice")
    assert rows(database_url, f"SELECT count(*) FROM {EVENTS_TABLE}") == events_before
    assert rows(database_url, "SELECT count(*), count(key) FROM export_keys") == [(1, 0)]


def test_a_refused_key_in_a_batch_fails_only_its_own_command(
    grouped: ExportLedger, open_ledgers: Callable[..., ExportLedger], database_url: str
) -> None:
    request(grouped, "alice")
    request(grouped, "bob")
    catch_up(database_url)
    open_ledgers(pool_size=2).erase_subject(
        "alice", actor="dpo", reason=None, exports=ReadModelSubjects(Database(database_url))
    )
    outcomes: list[str] = []

    def create(user: str) -> None:
        try:
            request(grouped, user)
            outcomes.append(f"{user}: created")
        except SubjectErased:
            outcomes.append(f"{user}: erased")

    threads = [threading.Thread(target=create, args=(u,)) for u in ["alice", "bob"] * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["alice: erased", "bob: created"]
    assert len(outcomes) == 16
    live = rows(database_url, "SELECT count(*) FROM export_keys WHERE key IS NOT NULL")
    assert live == [(9,)]  # bob's first and his eight
