"""The live follower: keeps export_logs up to date as events are committed.

Why it can never skip a committed event
---------------------------------------
It reads events in notification-id order after its tracking position, and
notification ids may have gaps (a rolled-back insert consumes ids). A gap is
only dangerous if it can later be *filled*: a transaction that took a lower
id committing after one that took a higher id, after the follower already
moved past. This store rules that out. Every writer takes an EXCLUSIVE lock
on the events table before it draws ids and holds it until it commits (see
``sql/migrations/0002_event_store_guard.sql``), so the transaction holding
id N has committed or rolled back before any transaction can draw N+1. When
the follower sees N+1, every lower id is final: present, or gone for good.

Waking up
---------
Writers ``NOTIFY`` the events table's channel in the inserting transaction,
delivered at commit; the follower ``LISTEN``s and folds as soon as one
arrives, many events per transaction when it is behind. A slow timeout is
only a safety net (that loop, shared with the sealer and the rebuild, is
projections/db/loop.py). After each batch it notifies ``export_logs_projected``
with its new position, which ``projections.reads.positions.PositionWatcher``
turns into read-your-writes waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from projections.db import loop
from projections.db.database import Database
from projections.readmodel.store import head_position, project_batch, tracking_position
from sql.names import LIVE_TABLE

log = logging.getLogger("export_ledger.follower")


@dataclass(frozen=True, slots=True)
class FollowerStatus:
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class Follower:
    """Folds new events into ``table`` until stopped."""

    def __init__(self, db: Database, *, table: str = LIVE_TABLE, batch_size: int = 1000) -> None:
        self.db = db
        self.table = table
        self.batch_size = batch_size
        self.position = 0
        self.stopping = threading.Event()

    def catch_up(self, conn: psycopg.Connection[Any]) -> int:
        """Fold until nothing is left; returns events folded."""

        def batch() -> int:
            folded, self.position = project_batch(conn, self.table, limit=self.batch_size)
            return folded

        return loop.catch_up(
            batch, last=lambda folded: folded < self.batch_size, stopping=self.stopping
        )

    def run(self, on_batch: Callable[[int, int], None] = lambda _n, _p: None) -> None:
        """Follow until :meth:`stop`; resumes from the tracking position."""
        loop.follow(
            self.db,
            self.catch_up,
            stopping=self.stopping,
            on_batch=lambda folded: on_batch(folded, self.position),
            name="follower batch",
        )

    def stop(self) -> None:
        self.stopping.set()

    def status(self) -> FollowerStatus:
        with self.db.projector(autocommit=True) as conn:
            return follower_status(conn, self.table)


def follower_status(conn: psycopg.Connection[Any], table: str = LIVE_TABLE) -> FollowerStatus:
    return FollowerStatus(tracking_position(conn, table) or 0, head_position(conn))
