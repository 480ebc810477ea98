"""The export_holds read table: legal holds folded from their events.

Written in the projection's transaction, beside export_logs, by
:func:`write_holds`; every write is idempotent (placing a hold that is there,
or releasing one already released, changes nothing), so a rebuild's catch-up
that folds events a second time leaves the table as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg

from projections.readmodel.changes import Change
from sql import statement

HOLD_EVENTS = frozenset({"HoldPlaced", "HoldReleased"})


def write_holds(
    conn: psycopg.Connection[Any],
    changes: Sequence[Change],
    owners: Mapping[UUID, tuple[str, str]],
) -> None:
    """Fold the hold events among ``changes``; ``owners`` gives each export's
    (export id, user id)."""
    placed: dict[str, list[Any]] = {k: [] for k in _PLACED}
    released: dict[str, list[Any]] = {k: [] for k in _RELEASED}
    for change in changes:
        if change.type == "HoldPlaced":
            data = change.data
            export_id, user_id = owners[change.aggregate_id]
            values = (
                data["hold_id"], export_id, user_id,
                data["matter"], data.get("reason"), data["actor"], change.timestamp,
                change.position,
            )  # fmt: skip
            for key, value in zip(_PLACED, values, strict=True):
                placed[key].append(value)
        elif change.type == "HoldReleased":
            ends = (change.data["hold_id"], change.data["actor"], change.timestamp,
                    change.position)  # fmt: skip
            for key, value in zip(_RELEASED, ends, strict=True):
                released[key].append(value)
    if placed["hold_id"]:
        conn.execute(statement("holds", "place_holds"), placed)
    if released["hold_id"]:
        conn.execute(statement("holds", "release_holds"), released)


_PLACED = ("hold_id", "export_id", "user_id", "matter", "reason", "placed_by", "placed_at",
           "position")  # fmt: skip
_RELEASED = ("hold_id", "released_by", "released_at", "position")
