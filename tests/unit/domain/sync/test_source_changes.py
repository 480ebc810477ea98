"""Changes of the seed's table as events (domain/sync/source_changes.py and
change_stream.py): planned in order on the export as earlier changes left it, through
the import's one row mapping; refused changes diverge their export, an accepted one
mends it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.sync.change_stream import ChangeStream
from domain.sync.pgoutput import UNCHANGED, Column, Relation, Value
from domain.sync.rows import SEED_COLUMNS
from domain.sync.source_changes import (
    SOURCE_ATTRIBUTE,
    Change,
    Position,
    SourceSchemaChanged,
    column_indexes,
    plan_changes,
)
from projections.importing.sync_position import Stored
from tests.unit.domain.sync.test_pgoutput import encode

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
EXPORT = "6f1c2b0e-8a41-4e7a-9d53-0c1f2e3a4b5c"
TYPES = {"config": 3802, "conversation_count": 23, "file_size": 20, "id": 2950}
TIMES = ("timestamp", "expires_at", "created_at", "updated_at")
RELATION = Relation(
    16400, "public", "export_logs", "d",
    tuple(
        Column(name, TYPES.get(name, 1184 if name in TIMES else 25), -1, name == "id")
        for name in SEED_COLUMNS
    ),
)  # fmt: skip


def values(status: str, **changed: Value) -> dict[str, Value]:
    row: dict[str, Value] = {
        "id": "row-1", "export_id": EXPORT, "user_id": "user-1",
        "timestamp": "2026-12-07 00:00:00+00", "format": "json", "config": json.dumps({}),
        "conversation_count": "3", "file_size": None, "status": status, "file_url": None,
        "expires_at": None, "error_message": None, "created_at": None, "updated_at": None,
    }  # fmt: skip
    if status == "completed":
        row.update(file_size="10", file_url="https://f/1", expires_at="2026-12-14 00:00:00+00")
    row.update(changed)
    return row


def change(kind: str, ordinal: int, row: dict[str, Value], lsn: int = 100) -> Change:
    return Change(kind, "row-1", row, Position(lsn, ordinal), AT)  # type: ignore[arg-type]


def test_three_states_in_one_batch_record_each_move_stamped_with_its_position() -> None:
    plan = plan_changes(
        [
            change("insert", 1, values("queued")),
            change("update", 2, values("processing")),
            change("update", 1, values("completed"), lsn=200),
        ],
        found={},
        export_of={},
    )
    events = plan.exports[EXPORT].pending_events
    assert [type(e).__name__ for e in events] == ["Imported", "ProcessingStarted", "Completed"]
    stamps = [vars(e)[SOURCE_ATTRIBUTE] for e in events]
    assert [(s["end_lsn"], s["ordinal"]) for s in stamps] == [("0/64", 1), ("0/64", 2), ("0/C8", 1)]
    assert plan.mapped == {"row-1": EXPORT} and plan.applied == 3


def test_a_delete_by_id_alone_and_an_unchanged_toasted_config() -> None:
    first = plan_changes([change("insert", 1, values("queued", config='{"big": "x"}'))], {}, {})
    export = first.exports[EXPORT]
    export.collect_events()
    plan = plan_changes(
        [
            change("update", 1, values("processing", config=UNCHANGED)),
            change("delete", 2, {name: None for name in SEED_COLUMNS} | {"id": "row-1"}),
        ],
        found={EXPORT: export},
        export_of={"row-1": EXPORT},
    )
    assert not plan.refused
    names = [type(e).__name__ for e in plan.exports[EXPORT].pending_events]
    assert names == ["ProcessingStarted", "Deleted"]
    assert plan.exports[EXPORT].config == {"big": "x"}
    assert plan.unmapped == {"row-1"}


def test_refused_changes_diverge_the_export_and_a_later_accepted_one_mends_it() -> None:
    completed = plan_changes([change("insert", 1, values("completed"))], {}, {}).exports[EXPORT]
    completed.collect_events()
    plan = plan_changes(
        [
            change("update", 1, values("queued")),
            change("update", 2, values("completed", export_id="exp_other")),
        ],
        found={EXPORT: completed},
        export_of={"row-1": EXPORT},
    )
    assert "the ledger never moves an export back" in plan.refused[0].reason
    assert "export_id of source row row-1 changed" in plan.refused[1].reason
    assert set(plan.diverged) == {EXPORT} and not plan.mended
    assert completed.pending_events == []
    mended = plan_changes([change("update", 3, values("expired"))], {EXPORT: completed},
                          {"row-1": EXPORT})  # fmt: skip
    assert mended.mended == {EXPORT} and not mended.diverged


def test_an_unchanged_value_the_ledger_does_not_hold_is_refused() -> None:
    plan = plan_changes([change("update", 1, values("queued", config=UNCHANGED))], {}, {})
    assert "sent config as unchanged" in plan.refused[0].reason


def test_a_relation_without_a_seed_column_or_with_an_unknown_type_stops_the_follow() -> None:
    assert column_indexes(RELATION)["status"] == SEED_COLUMNS.index("status")
    short = Relation(1, "public", "t", "d", RELATION.columns[1:])
    with pytest.raises(SourceSchemaChanged, match="no longer has the seed's columns id"):
        column_indexes(short)
    numeric = tuple(
        Column(c.name, 1700, -1, c.key) if c.name == "conversation_count" else c
        for c in RELATION.columns
    )
    with pytest.raises(SourceSchemaChanged, match="conversation_count has a type"):
        column_indexes(Relation(1, "public", "t", "d", numeric))


def _row_bytes(row: dict[str, Value]) -> tuple[Value, ...]:
    return tuple(row[name] for name in SEED_COLUMNS)


def test_the_stream_numbers_changes_within_their_transaction_by_its_end_lsn() -> None:
    from domain.sync.pgoutput import Begin, Commit, Insert, Update

    stream = ChangeStream("public", "export_logs")
    feed = [
        Begin(150, AT, 7),
        RELATION,
        Insert(RELATION.oid, _row_bytes(values("queued"))),
        Update(RELATION.oid, None, _row_bytes(values("processing"))),
        Commit(0, 150, 160, AT),
    ]
    found = [stream.feed(encode(message)) for message in feed]
    transaction = found[-1]
    assert found[:-1] == [None] * 4 and transaction is not None
    assert [c.position for c in transaction.changes] == [Position(160, 1), Position(160, 2)]
    assert [c.kind for c in transaction.changes] == ["insert", "update"]
    with pytest.raises(SourceSchemaChanged, match="never described"):
        other = ChangeStream("public", "export_logs")
        other.feed(encode(Begin(1, AT, 1)))
        other.feed(encode(Insert(99, ())))
        other.feed(encode(Commit(0, 1, 2, AT)))


def test_the_stored_position_says_which_changes_are_recorded() -> None:
    half = Stored("s", "t", "p", True, "following", 160, 1, False)
    assert half.has(Position(150, 9)) and half.has(Position(160, 1))
    assert not half.has(Position(160, 2)) and not half.has(Position(170, 1))
    whole = Stored("s", "t", "p", True, "following", 160, 2, True)
    assert whole.has(Position(160, 99)) and not whole.has(Position(161, 1))
