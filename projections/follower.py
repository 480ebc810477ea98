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
projections/follow.py). After each batch it notifies ``export_logs_projected``
with its new position, which :class:`PositionWatcher` turns into
read-your-writes waits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from projections import follow as loop
from projections.follow import SAFETY_NET_SECONDS
from projections.follow import projector_connection as projector_connection  # re-exported
from projections.logins import connect_login
from projections.store import head_position, project_batch, tracking_position
from sql import statement
from sql.names import LIVE_TABLE, PROJECTED_CHANNEL, READER_ROLE

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FollowerStatus:
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class Follower:
    """Folds new events into ``table`` until stopped."""

    def __init__(self, url: str, *, table: str = LIVE_TABLE, batch_size: int = 1000) -> None:
        self.url = url
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
            self.url,
            self.catch_up,
            stopping=self.stopping,
            on_batch=lambda folded: on_batch(folded, self.position),
        )

    def stop(self) -> None:
        self.stopping.set()

    def status(self) -> FollowerStatus:
        with projector_connection(self.url, autocommit=True) as conn:
            return follower_status(conn, self.table)


def follower_status(conn: psycopg.Connection[Any], table: str = LIVE_TABLE) -> FollowerStatus:
    return FollowerStatus(tracking_position(conn, table) or 0, head_position(conn))


class PositionWatcher:
    """Lets callers wait until the read table includes a log position.

    One background connection LISTENs for the follower's notifications and
    wakes the waiters, so a wait ends within a notification's latency of the
    follower's commit instead of on a polling interval.
    """

    def __init__(self, url: str, *, table: str = LIVE_TABLE) -> None:
        self.url = url
        self.table = table
        self._position = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="position-watcher", daemon=True)
        self._ready = threading.Event()

    def start(self) -> PositionWatcher:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with (
            contextlib.suppress(psycopg.Error),
            connect_login(self.url, READER_ROLE, autocommit=True) as conn,
        ):
            wake = {"channel": PROJECTED_CHANNEL, "payload": "stop:0"}
            conn.execute(statement("channels", "notify"), wake)
        self._thread.join(timeout=5)

    @property
    def position(self) -> int:
        return self._position

    def wait_for(self, position: int, timeout: float) -> bool:
        """True once the read table includes ``position``; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen_once()
            except psycopg.OperationalError as error:
                log.warning("position watcher lost its connection: %s; retrying", error)
                self._ready.set()
                time.sleep(1)

    def _listen_once(self) -> None:
        with connect_login(self.url, READER_ROLE, autocommit=True) as conn:
            conn.execute(statement("channels", "listen", channel=PROJECTED_CHANNEL))
            self._advance(tracking_position(conn, self.table) or 0)
            self._ready.set()
            while not self._stopping.is_set():
                for note in conn.notifies(timeout=SAFETY_NET_SECONDS, stop_after=1):
                    table, _, position = note.payload.rpartition(":")
                    if table == self.table:
                        self._advance(int(position))
                # A swap by the rebuild can move the position without a notification.
                self._advance(tracking_position(conn, self.table) or 0)

    def _advance(self, position: int) -> None:
        with self._changed:
            if position > self._position:
                self._position = position
                self._changed.notify_all()
