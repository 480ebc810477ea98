"""The projector: the follower and the sealer, each in a thread, restarted after errors
(and, when given, the live sync, the sinks' senders and the periodic retention run).

``serve`` runs one in-process so that a single process is a whole working system;
``project`` runs one in the foreground. A worker that fails (the database went away,
a bug) is restarted with a back-off of 1 s doubling to 30 s; a worker that ran for
over a minute before failing starts again from 1 s.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from projections.db.database import Database
from projections.importing.sync_worker import SyncWorker
from projections.readmodel.follower import Follower
from projections.readmodel.retention import RetentionJob
from projections.sinks.sender import SinkSenders, SinkSettings
from projections.tlog.keys import KeyRing, Signer
from projections.tlog.sealer import Sealer
from projections.tlog.witnessing import Cosigners
from sql import statement
from sql.names import EVENTS_CHANNEL, PROJECTOR_ROLE

log = logging.getLogger("export_ledger.projector")
Worker = Follower | Sealer | Cosigners | SyncWorker | SinkSenders | RetentionJob


class Projector:
    """Runs the projection follower and, given checkpoint keys, the sealer (and the
    witnesses' cosigners, given those)."""

    def __init__(
        self,
        db: Database,
        signer: KeyRing | Signer | None = None,
        *,
        batch_size: int = 1000,
        origin: str | None = None,
        cosigners: Cosigners | None = None,
        sync: Callable[[], SyncWorker] | None = None,
        sinks: SinkSettings | None = None,
        retention: Callable[[], RetentionJob] | None = None,
    ) -> None:
        self.db = db
        self._workers: list[Worker] = [Follower(db, batch_size=batch_size)]
        if sync is not None:  # the live sync of EXPORT_LEDGER_SYNC_FROM
            self._workers.append(sync())
        if signer is not None:
            self._workers.append(Sealer(db, signer, origin=origin))
        self.cosigners = cosigners
        if signer is not None and cosigners is not None:
            self._workers.append(cosigners)
        if sinks is not None:
            self._workers.append(SinkSenders(db, sinks))
        if retention is not None:
            self._workers.append(retention())
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(w,), name=type(w).__name__, daemon=True)
            for w in self._workers
        ]

    def start(self) -> Projector:
        for thread in self._threads:
            thread.start()
        return self

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._stopping.set()
        for worker in self._workers:
            worker.stop()
        self._wake()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, worker: Worker) -> None:
        """Run ``worker`` until stopped, its SQL untraced: the loops' statements run
        outside any request, and tracing them (the statement's text, a span dropped by
        the sampler) cost more per created export than the request's own spans. Their
        work shows as the spans the workers start themselves (a batch, a delivery)."""
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                with suppress_instrumentation():
                    worker.run()
            except Exception as error:  # keep projecting whatever went wrong
                log.warning(
                    "%s stopped: %s; restarting in %.0f s", type(worker).__name__, error, backoff
                )
                if time.monotonic() - started > 60:
                    backoff = 1.0
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _wake(self) -> None:
        """A notification on the events channel ends the follower's wait at once."""
        try:
            with self.db.connect(PROJECTOR_ROLE, autocommit=True, connect_timeout=2) as conn:
                wake = {"channel": EVENTS_CHANNEL, "payload": ""}
                conn.execute(statement("channels", "notify"), wake)
        except psycopg.Error:
            pass


PROJECTOR_LOCK = (0x4578, 0x5072_6F6A)  # "Ex", "Proj": the projector election's lock keys
_ELECTION_EVERY_SECONDS = 1.0
_SESSION_PREFIX = "export-ledger-projector "  # the lock session's application_name


def process_name() -> str:
    """How a process is named in /readyz and status: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_session(db: Database, name: str) -> psycopg.Connection[Any]:
    """The connection whose session holds the projector lock once taken; named so that
    others can tell who holds it (:func:`projector_holder`)."""
    return db.connect(
        PROJECTOR_ROLE,
        autocommit=True,
        connect_timeout=2,
        application_name=_SESSION_PREFIX + name,
        # a server gone silent (not closed) ends the session within ~10 s
        keepalives_idle=4,
        keepalives_interval=2,
        keepalives_count=3,
    )


def take_projector_lock(conn: psycopg.Connection[Any]) -> bool:
    """Take the projector lock on ``conn``'s session if no session holds it."""
    keys = {"k1": PROJECTOR_LOCK[0], "k2": PROJECTOR_LOCK[1]}
    row = conn.execute(statement("election", "try_projector_lock"), keys).fetchone()
    return bool(row and row[0])


def still_holding(conn: psycopg.Connection[Any]) -> bool:
    """Whether the lock's session is still there (the lock lives as long as it)."""
    try:
        conn.execute(statement("election", "still_connected"))
    except psycopg.Error:
        return False
    return True


def projector_holder(conn: psycopg.Connection[Any]) -> str | None:
    """The process (host:pid) holding the projector lock in this database, if any."""
    keys = {"k1": PROJECTOR_LOCK[0], "k2": PROJECTOR_LOCK[1]}
    found = conn.execute(statement("election", "projector_holder"), keys).fetchone()
    if not found:
        return None
    name = found["holder"] if isinstance(found, dict) else found[0]
    return str(name).removeprefix(_SESSION_PREFIX)


class ElectedProjector:
    """A :class:`Projector` that runs only while this process holds the projector lock.

    Each of several server processes (``serve --workers N``, or servers on
    several hosts) runs one; they all try a session-level advisory lock every
    second on a connection of their own, and the one holding it projects.
    The lock lives as long as that session: when its process dies (kill -9),
    or its database server does (a failover), the session ends and another
    process takes the lock within about a second of noticing. The follower
    and the sealer lock their tracking rows, so even the moment in which an
    old holder still finishes a batch projects nothing twice.
    """

    def __init__(
        self,
        db: Database,
        signer: KeyRing | Signer | None = None,
        *,
        batch_size: int = 1000,
        origin: str | None = None,
        cosigners: Cosigners | None = None,
        name: str | None = None,
        sync: Callable[[], SyncWorker] | None = None,
        sinks: SinkSettings | None = None,
        retention: Callable[[], RetentionJob] | None = None,
    ) -> None:
        self.db = db
        self._sync = sync
        self._retention = retention
        self.name = name or process_name()
        self.origin = origin
        self.cosigners = cosigners
        """The witnesses' cosigners, run by whichever projector this process starts."""
        self.sinks = sinks
        self.holder: str | None = None
        """The process holding the lock when last looked (this one's name while it leads)."""
        self._signer = signer
        self._batch_size = batch_size
        self._projector: Projector | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._elect, name="projector-election", daemon=True)

    def start(self) -> ElectedProjector:
        self._thread.start()
        return self

    def leading(self) -> bool:
        return self._projector is not None

    def alive(self) -> bool:
        projector = self._projector
        return self._thread.is_alive() and (projector is None or projector.alive())

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=15)

    def _elect(self) -> None:
        while not self._stopping.is_set():
            try:
                with lock_session(self.db, self.name) as conn:
                    self._campaign(conn)
            except psycopg.Error as error:
                log.info("projector election: %s", error)
            finally:
                self._step_down()
            self._stopping.wait(_ELECTION_EVERY_SECONDS)

    def _campaign(self, conn: psycopg.Connection[Any]) -> None:
        """Try for the lock every second; once held, project until the session is gone."""
        while not self._stopping.is_set():
            if take_projector_lock(conn):
                log.info("%s holds the projector lock: projecting", self.name)
                self.holder = self.name
                self._projector = Projector(
                    self.db,
                    self._signer,
                    batch_size=self._batch_size,
                    origin=self.origin,
                    cosigners=self.cosigners,
                    sync=self._sync,
                    sinks=self.sinks,
                    retention=self._retention,
                )
                self._projector.start()
                try:
                    while not self._stopping.wait(_ELECTION_EVERY_SECONDS):
                        conn.execute(statement("election", "still_connected"))
                finally:
                    self._step_down()  # before the session (and the lock) ends
                return
            self.holder = projector_holder(conn)
            self._stopping.wait(_ELECTION_EVERY_SECONDS)

    def _step_down(self) -> None:
        projector, self._projector = self._projector, None
        if projector is not None:
            if not self._stopping.is_set():
                log.warning("%s lost the projector lock: stopping its projector", self.name)
            projector.stop()
        if self.holder == self.name:
            self.holder = None
