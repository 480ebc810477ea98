"""RetentionApplied in the fold: the row and every version before it are shed."""

from __future__ import annotations

from uuid import uuid4

from domain.privacy import SHED_TEXT
from projections.readmodel.changes import Change
from projections.readmodel.fold import apply, fold_export

ID = uuid4()
REQUESTED = {
    "export_id": "exp_1", "user_id": "u", "format": "json", "config": {"title": "mine"},
    "conversation_count": 1,
}  # fmt: skip
COMPLETED = {"file_size": 1, "file_url": "s3://x", "expires_at": None}


def change(position: int, kind: str, data: dict[str, object] | None = None) -> Change:
    return Change(position, ID, position, kind, f"2026-01-01T00:00:0{position}+00:00", data or {})


def test_a_retention_sheds_the_versions_before_it_and_the_row() -> None:
    changes = [change(1, "Requested", REQUESTED), change(2, "Completed", COMPLETED),
               change(3, "RetentionApplied")]  # fmt: skip
    row, versions = fold_export(None, changes)
    assert row is not None
    assert (row["config"], row["file_url"], row["error_message"]) == (
        {"shed": True},
        SHED_TEXT,
        None,
    )
    assert row["user_id"] == "u" and row["status"] == "completed"
    assert [v["config"] for v in versions] == [{"shed": True}] * 3
    assert [v["file_url"] for v in versions] == [None, SHED_TEXT, SHED_TEXT]


def test_a_deleted_export_keeps_its_versions_closed_at_the_deletion() -> None:
    changes = [change(1, "Requested", REQUESTED), change(2, "Deleted"),
               change(3, "RetentionApplied")]  # fmt: skip
    row, versions = fold_export(None, changes)
    assert row is None
    assert [(v["valid_to"], v["config"]) for v in versions] == [(2, {"shed": True})]
    assert apply(None, change(3, "RetentionApplied")) is None
