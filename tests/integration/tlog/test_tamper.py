"""Tampering by someone who owns the database, append-only triggers switched off:
``verify`` finds every change and names the first position it touched."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from api.wiring.signing import Ed25519Signer, generate
from domain.exports.ids import aggregate_id
from domain.ledger.application import ExportLedger
from projections.audit.verify import VerifyReport, verify
from projections.db.database import Database
from projections.tlog.checkpoints import Checkpoint, all_checkpoints
from projections.tlog.proofs import Problem
from tests.integration.tlog.test_seal import (
    EVENTS,
    SEAL_TABLES,
    column,
    populate,
    seal_all,
    with_triggers_off,
)


@pytest.fixture
def exports(ledger: ExportLedger, database_url: str, signer: Ed25519Signer) -> dict[str, str]:
    """populate()'s exports, with a gap in the notification ids, sealed in fours."""
    found = populate(ledger, database_url, gap=True)
    seal_all(database_url, signer, batch=4)
    report = verify(Database(database_url))
    assert report.ok, report.problems.sorted()
    assert (report.events, report.sealed, report.checkpoints, report.rows) == (17, 17, 5, 4)
    return found


def position(url: str, export_id: str, version: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT notification_id FROM {EVENTS} "
            "WHERE originator_id = %s AND originator_version = %s",
            (aggregate_id(export_id), version),
        ).fetchone()
    assert row is not None
    return int(row[0])


def problems_of(url: str, **options: Any) -> tuple[Problem, VerifyReport]:
    report = verify(Database(url), **options)
    assert not report.ok
    return report.problems.sorted()[0], report


def change_state(url: str, at: int, old: bytes, new: bytes) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT state FROM {EVENTS} WHERE notification_id = %s", (at,))
        state = bytes(row.fetchone()[0])  # type: ignore[index]
    assert state.count(old) == 1 and len(old) == len(new)
    change = (
        f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s",
        (state.replace(old, new), at),
    )
    with_triggers_off(url, (EVENTS,), change)


def test_one_changed_byte_of_an_events_state(exports: dict[str, str], database_url: str) -> None:
    at = position(database_url, exports["downloaded"], 2)  # its start (a clear actor)
    change_state(database_url, at, b'"actor":"worker"', b'"actor":"workex"')

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (at, "changed")
    assert report.problems.counts.keys() == {"changed", "root"}  # not a column of export_logs


def test_a_changed_byte_that_breaks_the_json(exports: dict[str, str], database_url: str) -> None:
    at = position(database_url, exports["retried"], 1)
    change_state(database_url, at, b'"format":', b'"format"!')

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (at, "changed")
    assert any("no longer fold" in p.message for p in report.problems.examples)


def test_a_deleted_event(exports: dict[str, str], database_url: str) -> None:
    at = position(database_url, exports["downloaded"], 2)
    with_triggers_off(
        database_url, (EVENTS,), (f"DELETE FROM {EVENTS} WHERE notification_id = %s", (at,))
    )

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (at, "missing")
    assert {"missing", "moved", "version", "root"} <= report.problems.counts.keys()


def test_two_events_swapped_in_the_log(exports: dict[str, str], database_url: str) -> None:
    a = position(database_url, exports["downloaded"], 2)
    b = position(database_url, exports["downloaded"], 3)
    swap = f"UPDATE {EVENTS} SET notification_id = %s WHERE notification_id = %s"
    with_triggers_off(database_url, (EVENTS,), (swap, (-1, a)), (swap, (a, b)), (swap, (b, -1)))

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (a, "changed")
    assert {p.position for p in report.problems.examples if p.kind == "changed"} == {a, b}
    assert report.problems.counts["version"] >= 1


def test_a_forged_event_in_a_gap_of_the_log(exports: dict[str, str], database_url: str) -> None:
    ids = column(database_url, f"SELECT notification_id FROM {EVENTS} ORDER BY 1")
    gap = next(i for i in range(1, ids[-1]) if i not in ids)
    forged = (
        f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state, notification_id) "
        f"SELECT %s, 1, topic, state, %s FROM {EVENTS} WHERE notification_id = %s",
        (uuid.uuid4(), gap, position(database_url, exports["deleted"], 1)),
    )
    with_triggers_off(database_url, (EVENTS,), forged)

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (gap, "inserted")
    assert report.problems.counts["row"] == 1  # export_logs lacks the forged export


def test_an_edited_export_logs_row(exports: dict[str, str], database_url: str) -> None:
    (at,) = column(
        database_url,
        f"SELECT position FROM export_logs WHERE export_id = '{exports['downloaded']}'",
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE export_logs SET status = 'failed' WHERE export_id = %s",
            (exports["downloaded"],),
        )

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (at, "row")
    assert exports["downloaded"] in first.message and "status is 'failed'" in first.message
    assert report.problems.total == 1


def test_a_replaced_checkpoint_root(exports: dict[str, str], database_url: str) -> None:
    replace = ("UPDATE ledger_checkpoints SET root_hash = %s WHERE tree_size = 8", (bytes(32),))
    with_triggers_off(database_url, ("ledger_checkpoints",), replace)
    positions = column(database_url, "SELECT position FROM ledger_leaves ORDER BY leaf_index")

    first, report = problems_of(database_url)
    assert (first.position, first.kind) == (positions[7], "root")
    assert "checkpoint of size 8" in first.message
    assert f"positions {positions[4]} to {positions[7]}" in first.message
    assert report.problems.counts == {"root": 1, "signature": 1}


def test_a_log_resealed_with_another_key_fails_against_saved_checkpoints(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    exports = populate(ledger, database_url)
    seal_all(database_url, signer, batch=1)
    with psycopg.connect(database_url) as conn:
        saved = [Checkpoint.from_json(cp.to_json()) for cp in all_checkpoints(conn)]
    at = position(database_url, exports["downloaded"], 2)  # its start (a clear actor)
    change_state(database_url, at, b'"actor":"worker"', b'"actor":"workez"')
    reseal = [(f"DELETE FROM {table}", ()) for table in reversed(SEAL_TABLES)]
    reset = "UPDATE read_model_tracking SET position = 0 WHERE table_name = 'ledger_seal'"
    with_triggers_off(database_url, SEAL_TABLES, *reseal, (reset, ()))
    seal_all(database_url, generate(), batch=1)

    assert verify(Database(database_url)).ok  # consistent in itself: only the saved copies tell
    first, report = problems_of(database_url, against=saved)
    assert first.kind == "resigned" and signer.key_id in first.message
    roots = [p for p in report.problems.sorted() if p.kind == "root"]
    assert roots[0].position == at and f"positions {at} to {at} changed" in roots[0].message
    trusted = problems_of(database_url, trusted=frozenset({signer.key_id}))[1]
    assert trusted.problems.counts == {"signature": 17}
