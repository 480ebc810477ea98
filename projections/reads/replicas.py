"""Where reads go: the primary, or streaming replicas of it.

A replica is a hot standby replaying the primary's WAL, so its ``export_logs``
table and tracking position are always a past state of the primary's. That
makes falling back safe: a read that waited for position P on a replica and is
then served by the primary still sees P, because the primary is never behind.

NOTIFY does not reach standbys, so waiting for a position on a replica polls
its tracking row: every few milliseconds at first, backing off, bounded by the
caller's wait.

A replica that fails a read leaves the rotation at once, so no request waits
on its reconnect back-off; reads go to the other replicas or the primary. A
background thread probes it and, once it answers, gives it a fresh pool and
puts it back.

After a failover the nodes change roles: a replica once seen as a standby is
taken back only while it is one, and leaves the rotation once it is no longer
in recovery (it was promoted), so listing every node of a cluster as a replica
follows whoever the standbys are.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from projections.db.database import Database
from sql import statement
from sql.names import READER_ROLE

log = logging.getLogger("export_ledger.replicas")

Row = dict[str, Any]
ReadPool = ConnectionPool[psycopg.Connection[Row]]
_FIRST_POLL_SECONDS = 0.005
_LAST_POLL_SECONDS = 0.1
_PROBE_EVERY_SECONDS = 0.5
_PROBE_TIMEOUT_SECONDS = 2


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    name: str
    state: Literal["ok", "down"]
    position: int | None


def read_pool(url: str, name: str, *, size: int, timeout: float) -> ReadPool:
    """Reader connections; ``name`` is also their ``application_name`` unless the
    URL names one (an operator's name wins, as on every other pool)."""
    kwargs: dict[str, Any] = {
        "options": "-c TimeZone=UTC",
        "prepare_threshold": None,
        "row_factory": dict_row,
    }
    if "application_name" not in conninfo_to_dict(url):
        kwargs["application_name"] = name
    return ConnectionPool(
        url,
        connection_class=psycopg.Connection[Row],
        min_size=1,
        max_size=size,
        timeout=timeout,
        open=False,
        name=name,
        kwargs=kwargs,
    )


class Replica:
    """One streaming replica that serves reads."""

    def __init__(self, name: str, url: str, *, size: int, timeout: float) -> None:
        self.name = name
        self.db = Database(url)
        self.healthy = False  # joins the rotation once it has answered a probe
        self.position = 0
        """The last position seen on this replica (it only grows)."""
        self._size = size
        # A busy or dying replica should not hold a request long: the primary is there.
        self._timeout = min(timeout, 1.0)
        self.pool: ReadPool | None = None
        self.seen_standby = False

    def open(self) -> None:
        login = self.db.conninfo(READER_ROLE)
        self.pool = read_pool(login, self._pool_name(), size=self._size, timeout=self._timeout)
        self.pool.open(wait=True, timeout=_PROBE_TIMEOUT_SECONDS)

    def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close(timeout=1)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection, or an error at once: the caller falls back to the
        primary rather than wait for this replica. A broken connection, or no
        connection in time, takes the replica out of the rotation."""
        pool = self.pool
        if pool is None or not self.healthy:
            raise PoolClosed(f"{self.name} is out of the read rotation")
        try:
            with pool.connection() as conn:
                try:
                    yield conn
                except psycopg.OperationalError as error:
                    if conn.broken:
                        self.leave(error)
                    raise
        except (PoolTimeout, PoolClosed) as error:
            self.leave(error)
            raise

    def leave(self, error: Exception) -> None:
        """Out of the rotation until a probe finds the replica back."""
        if self.healthy:
            self.healthy = False
            log.warning("%s left the read rotation: %s", self.name, error)

    def wait_for(self, position: int, timeout: float) -> bool:
        """True once this replica's read table includes ``position``; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        delay = _FIRST_POLL_SECONDS
        with self.connection() as conn:
            while self.fetch_position(conn) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _LAST_POLL_SECONDS)
        return True

    def fetch_position(self, conn: psycopg.Connection[Row]) -> int:
        with conn.transaction():
            row = conn.execute(statement("replicas", "read_position")).fetchone()
        self.position = max(self.position, int(row["position"]) if row else 0)
        return self.position

    def probe(self) -> bool:
        """Does it answer as a standby, with the schema in place? One connection, no
        pool, no retries. (A new replica, or one far behind, may not have replayed the
        migrations yet; a node promoted by a failover serves no replica reads.)"""
        try:
            with self.db.connect(
                READER_ROLE, autocommit=True, connect_timeout=_PROBE_TIMEOUT_SECONDS
            ) as conn:
                conn.execute(statement("replicas", "read_position"))
                row = conn.execute(statement("replicas", "in_recovery")).fetchone()
        except psycopg.Error:
            return False
        standby = bool(row and row[0])
        self.seen_standby = self.seen_standby or standby
        # A node never seen as a standby is taken as configured (the primary's own
        # database may be listed); one that was a standby is taken back only as one.
        return standby or not self.seen_standby

    def still_standby(self) -> bool:
        """A replica in the rotation that a failover promoted leaves it: its reads
        would be right, but they belong on the primary's own pool. (A node never seen
        as a standby stays as configured.)"""
        with contextlib.suppress(psycopg.Error, PoolTimeout, PoolClosed), self.connection() as conn:
            with conn.transaction():
                row = conn.execute(statement("replicas", "in_recovery")).fetchone()
            if row is not None and self.seen_standby and not row["standby"]:
                self.leave(RuntimeError("it is no longer a standby (promoted)"))
                return False
        return True

    def _pool_name(self) -> str:
        return f"export-ledger-reads-{self.name}"


class ReplicaSet:
    """The replicas reads may go to, and which of them are in the rotation."""

    def __init__(self, replicas: Sequence[Replica] = ()) -> None:
        self.replicas = list(replicas)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._prober = threading.Thread(target=self._probe_loop, name="replica-prober", daemon=True)

    @classmethod
    def of(cls, urls: Sequence[str], *, size: int, timeout: float) -> ReplicaSet:
        """Replicas named replica-1, replica-2, ... in the order given."""
        named = enumerate(urls, 1)
        return cls([Replica(f"replica-{n}", url, size=size, timeout=timeout) for n, url in named])

    def open(self) -> None:
        for replica in self.replicas:
            self._rejoin(replica)
        if self.replicas:
            self._prober.start()

    def close(self) -> None:
        self._stopping.set()
        if self._prober.is_alive():
            self._prober.join(timeout=5)
        for replica in self.replicas:
            replica.close()

    def choose(self) -> Replica | None:
        """Round-robin over the replicas in rotation; None (the primary) when there is none."""
        healthy = [replica for replica in self.replicas if replica.healthy]
        if not healthy:
            return None
        with self._lock:
            turn = next(self._turn)
        return healthy[turn % len(healthy)]

    def statuses(self) -> list[ReplicaStatus]:
        return [self._status(replica) for replica in self.replicas]

    def _status(self, replica: Replica) -> ReplicaStatus:
        if replica.healthy:
            with contextlib.suppress(psycopg.Error), replica.connection() as conn:
                return ReplicaStatus(replica.name, "ok", replica.fetch_position(conn))
        return ReplicaStatus(replica.name, "down", None)

    def _probe_loop(self) -> None:
        while not self._stopping.wait(_PROBE_EVERY_SECONDS):
            for replica in self.replicas:
                if self._stopping.is_set():
                    break
                if replica.healthy:
                    replica.still_standby()
                else:
                    self._rejoin(replica)

    def _rejoin(self, replica: Replica) -> None:
        """A fresh pool for a replica that answers a probe, and back into the rotation."""
        replica.close()
        if not replica.probe():
            return
        try:
            replica.open()
        except psycopg.OperationalError:
            replica.close()
            return
        replica.healthy = True
        log.info("%s is in the read rotation", replica.name)
