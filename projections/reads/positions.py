"""Where the ledger stands: the head, the projection and the sealer, and waits for a log
position (for reads of one's own writes). The API's metrics, the console and ``status``
read the positions with the same query."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from projections.db.database import Database
from projections.db.loop import SAFETY_NET_SECONDS
from projections.readmodel.store import tracking_position
from sql import query, statement
from sql.names import LIVE_TABLE, PROJECTED_CHANNEL, READER_ROLE

log = logging.getLogger("export_ledger.follower")


@dataclass(frozen=True, slots=True)
class LedgerPositions:
    head: int
    projected: int
    sealed: int
    checkpoint_size: int


def ledger_positions(conn: psycopg.Connection[Any], head: int) -> LedgerPositions:
    """The projection's and the sealer's positions and the largest checkpoint, beside
    ``head`` (tracking and checkpoint rows, which the reader role may read)."""
    row = conn.execute(query("console", "ledger_positions")).fetchone()
    projected, sealed, size = row if row is not None else (0, 0, 0)
    return LedgerPositions(
        head=head,
        projected=int(projected or 0),
        sealed=int(sealed or 0),
        checkpoint_size=int(size or 0),
    )


class PositionWatcher:
    """Lets callers wait until the read table includes a log position.

    One background connection LISTENs for the follower's notifications and
    wakes the waiters, so a wait ends within a notification's latency of the
    follower's commit instead of on a polling interval.
    """

    def __init__(self, db: Database, *, table: str = LIVE_TABLE) -> None:
        self.db = db
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
            self.db.connect(READER_ROLE, autocommit=True) as conn,
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
                with suppress_instrumentation():  # its polling is no request's SQL
                    self._listen_once()
            except psycopg.OperationalError as error:
                log.warning("position watcher lost its connection: %s; retrying", error)
                self._ready.set()
                time.sleep(1)

    def _listen_once(self) -> None:
        with self.db.connect(READER_ROLE, autocommit=True) as conn:
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
