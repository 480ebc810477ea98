"""The projector: the follower and the sealer, each in a thread, restarted after errors.

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
from typing import Any

import psycopg

from projections.follower import Follower
from projections.keys import KeyRing, Signer
from projections.logins import connect_login
from projections.sealer import Sealer
from projections.sinks.sender import SinkSenders, SinkSettings
from projections.witnessing import Cosigners
from sql import statement
from sql.names import EVENTS_CHANNEL, PROJECTOR_ROLE

log = logging.getLogger(__name__)


class Projector:
    """Runs the projection follower and, given checkpoint keys, the sealer (and the
    witnesses' cosigners, given those)."""

    def __init__(
        self,
        url: str,
        signer: KeyRing | Signer | None = None,
        *,
        batch_size: int = 1000,
        origin: str | None = None,
        cosigners: Cosigners | None = None,
        sinks: SinkSettings | None = None,
    ) -> None:
        self.url = url
        self._workers: list[Follower | Sealer | Cosigners | SinkSenders] = [
            Follower(url, batch_size=batch_size)
        ]
        if signer is not None:
            self._workers.append(Sealer(url, signer, origin=origin))
        self.cosigners = cosigners
        if signer is not None and cosigners is not None:
            self._workers.append(cosigners)
        if sinks is not None:
            self._workers.append(SinkSenders(url, sinks))
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

    def _run(self, worker: Follower | Sealer | Cosigners | SinkSenders) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
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
            with connect_login(
                self.url, PROJECTOR_ROLE, autocommit=True, connect_timeout=2
            ) as conn:
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
        url: str,
        signer: KeyRing | Signer | None = None,
        *,
        batch_size: int = 1000,
        origin: str | None = None,
        cosigners: Cosigners | None = None,
        name: str | None = None,
        sinks: SinkSettings | None = None,
    ) -> None:
        self.url = url
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
        keys = {"k1": PROJECTOR_LOCK[0], "k2": PROJECTOR_LOCK[1]}
        while not self._stopping.is_set():
            try:
                with connect_login(
                    self.url,
                    PROJECTOR_ROLE,
                    autocommit=True,
                    connect_timeout=2,
                    application_name=_SESSION_PREFIX + self.name,
                    # a server gone silent (not closed) ends the session within ~10 s
                    keepalives_idle=4,
                    keepalives_interval=2,
                    keepalives_count=3,
                ) as conn:
                    self._campaign(conn, keys)
            except psycopg.Error as error:
                log.info("projector election: %s", error)
            finally:
                self._step_down()
            self._stopping.wait(_ELECTION_EVERY_SECONDS)

    def _campaign(self, conn: psycopg.Connection[Any], keys: dict[str, int]) -> None:
        """Try for the lock every second; once held, project until the session is gone."""
        while not self._stopping.is_set():
            row = conn.execute(statement("election", "try_projector_lock"), keys).fetchone()
            if row and row[0]:
                log.info("%s holds the projector lock: projecting", self.name)
                self.holder = self.name
                self._projector = Projector(
                    self.url,
                    self._signer,
                    batch_size=self._batch_size,
                    origin=self.origin,
                    cosigners=self.cosigners,
                    sinks=self.sinks,
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
