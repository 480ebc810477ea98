"""The sealer: every stored event becomes exactly one leaf, in log order, and each
batch signs a checkpoint whose root domain.merkle recomputes from the events.

The helpers at the top are shared with the tamper and verify tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from api.wiring.signing import Ed25519Signer
from domain import merkle
from domain.application import ExportLedger
from projections.follower import projector_connection
from projections.sealer import Sealer, all_checkpoints, row_leaf_hash, seal_batch
from sql import statement
from sql.names import ADMIN_ROLE, PROJECTOR_ROLE, READER_ROLE
from tests.integration.helpers import run_together
from tests.integration.readmodel_helpers import catch_up, complete, request, wait_until

EVENTS = "exportledger_events"
SEAL_TABLES = ("ledger_leaves", "ledger_nodes", "ledger_keys", "ledger_checkpoints")


def populate(ledger: ExportLedger, url: str, gap: bool = False) -> dict[str, str]:
    """Five exports in different states (17 events, an idempotency claim among
    them), folded into export_logs. With ``gap``, one notification id is skipped."""
    found = {
        "downloaded": request(ledger, "A"),
        "retried": request(ledger, "B"),
        "keyed": request(ledger, "A", idempotency_key="key-1"),
    }
    complete(ledger, found["downloaded"])
    if gap:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"SELECT nextval('{EVENTS}_notification_id_seq')")
    ledger.record_download(found["downloaded"], actor="A")
    ledger.record_download(found["downloaded"], actor="A")
    ledger.start_processing(found["retried"], actor="worker")
    ledger.fail(found["retried"], error_message="disk full", actor="worker")
    ledger.retry(found["retried"], actor="B")
    found["deleted"] = request(ledger, "B")
    ledger.delete(found["deleted"], actor="admin", reason="asked")
    found["expired"] = request(ledger, "C")
    complete(ledger, found["expired"])
    ledger.expire(found["expired"])
    catch_up(url)
    return found


def seal_all(url: str, signer: Ed25519Signer, batch: int = 4) -> int:
    """Seal everything in batches of ``batch``; the tree size."""
    sealer = Sealer(url, signer, batch_size=batch)
    with projector_connection(url) as conn:
        sealer.catch_up(conn)
    return sealer.tree_size


def stored_events(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement("verify", "log_events")).fetchall()


def column(url: str, query: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(query)]


def with_triggers_off(
    url: str, tables: tuple[str, ...], *changes: tuple[str, tuple[Any, ...]]
) -> None:
    """Make changes as the owner, with the tables' append-only triggers off."""
    with psycopg.connect(url) as conn, conn.transaction():
        for table in tables:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for query, params in changes:
            conn.execute(query, params)
        for table in tables:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")



@pytest.fixture
def exports(ledger: ExportLedger, database_url: str) -> dict[str, str]:
    return populate(ledger, database_url)


def test_every_event_becomes_one_leaf_in_log_order(
    exports: dict[str, str], database_url: str, signer: Ed25519Signer
) -> None:
    size = seal_all(database_url, signer, batch=4)

    events = stored_events(database_url)
    assert size == len(events) == 17
    hashes = [row_leaf_hash(e) for e in events]
    leaves = column(database_url, "SELECT leaf_hash FROM ledger_leaves ORDER BY leaf_index")
    assert leaves == hashes
    positions = column(database_url, "SELECT position FROM ledger_leaves ORDER BY leaf_index")
    assert positions == [e[0] for e in events]
    with psycopg.connect(database_url) as conn:
        cps = all_checkpoints(conn)
        tracked = conn.execute(
            "SELECT position FROM read_model_tracking WHERE table_name = 'ledger_seal'"
        ).fetchone()
    assert [cp.tree_size for cp in cps] == [4, 8, 12, 16, 17]
    for cp in cps:
        assert cp.root == merkle.root(hashes[: cp.tree_size])
        assert cp.position == events[cp.tree_size - 1][0]
        assert cp.key_id == signer.key_id and cp.signature_problem() is None
    assert tracked == (events[-1][0],)


def test_the_stored_nodes_are_every_complete_subtree(
    exports: dict[str, str], database_url: str, signer: Ed25519Signer
) -> None:
    seal_all(database_url, signer, batch=3)

    hashes = [row_leaf_hash(e) for e in stored_events(database_url)]
    source = merkle.memory_nodes(hashes)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT level, node_index, hash FROM ledger_nodes").fetchall()
    expected = {
        (level, index)
        for level in range(1, len(hashes).bit_length())
        for index in range(len(hashes) >> level)
    }
    assert {(level, index) for level, index, _ in stored} == expected
    assert all(source(level, index) == node for level, index, node in stored)


def test_sealing_again_seals_nothing_and_new_events_extend_the_tree(
    exports: dict[str, str], ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    seal_all(database_url, signer)
    with projector_connection(database_url) as conn:
        assert seal_batch(conn, signer).events == 0
        ledger.record_download(exports["downloaded"], actor="A")
        result = seal_batch(conn, signer)
    assert (result.events, result.tree_size) == (1, 18)
    assert len(column(database_url, "SELECT tree_size FROM ledger_checkpoints")) == 6


def test_two_sealers_at_once_never_seal_an_event_twice(
    exports: dict[str, str], database_url: str, signer: Ed25519Signer
) -> None:
    other = Ed25519Signer(signer.private_key)  # another process with the same key
    results = run_together(
        lambda: seal_all(database_url, signer, batch=1),
        lambda: seal_all(database_url, other, batch=1),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    positions = column(database_url, "SELECT position FROM ledger_leaves ORDER BY leaf_index")
    assert positions == [e[0] for e in stored_events(database_url)]
    assert len(column(database_url, "SELECT tree_size FROM ledger_checkpoints")) == 17
    assert len(column(database_url, "SELECT key_id FROM ledger_keys")) == 1


def test_the_follower_seals_events_as_they_commit(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    sealer = Sealer(database_url, signer, min_interval=0.05)
    thread = threading.Thread(target=sealer.run, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            state = ledger.request_export(
                user_id="A", format="json", config={}, conversation_count=1
            )
            assert state.position is not None
            wait_until(lambda p=state.position: sealer.position >= p, timeout=10)
    finally:
        sealer.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sealer.tree_size == 3


@pytest.mark.parametrize("table", SEAL_TABLES)
@pytest.mark.parametrize(
    "change",
    ["UPDATE {} SET {} = {}", "DELETE FROM {}", "TRUNCATE {} CASCADE"],
    ids=["update", "delete", "truncate"],
)
def test_the_sealed_log_is_append_only_even_for_its_owner(
    exports: dict[str, str], database_url: str, signer: Ed25519Signer, table: str, change: str
) -> None:
    seal_all(database_url, signer)
    first = {"ledger_keys": "key_id", "ledger_checkpoints": "tree_size"}
    name = first.get(table, "leaf_index" if table == "ledger_leaves" else "level")
    with pytest.raises(errors.InsufficientPrivilege), psycopg.connect(database_url) as conn:
        conn.execute(change.format(table, name, name))


@pytest.fixture
def role_conns(database_url: str) -> Iterator[dict[str, psycopg.Connection[Any]]]:
    roles = (READER_ROLE, ADMIN_ROLE, PROJECTOR_ROLE)
    conns = {
        r: psycopg.connect(database_url, options=f"-c role={r}", autocommit=True) for r in roles
    }
    yield conns
    for conn in conns.values():
        conn.close()


@pytest.mark.parametrize("table", SEAL_TABLES)
def test_only_the_projector_writes_and_nobody_changes_the_sealed_log(
    exports: dict[str, str],
    database_url: str,
    signer: Ed25519Signer,
    role_conns: dict[str, psycopg.Connection[Any]],
    table: str,
) -> None:
    seal_all(database_url, signer)
    for role, conn in role_conns.items():
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() != (0,)
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            row = conn.execute("SELECT has_table_privilege(%s, %s)", (table, privilege)).fetchone()
            assert row == ((role, privilege) == (PROJECTOR_ROLE, "INSERT"),), (role, privilege)
