"""The projector: the follower and the sealer, each in a thread, restarted after errors.

``serve`` runs one in-process so that a single process is a whole working system;
``project`` runs one in the foreground. A worker that fails (the database went away,
a bug) is restarted with a back-off of 1 s doubling to 30 s; a worker that ran for
over a minute before failing starts again from 1 s.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from projections.follower import Follower
from projections.keys import KeyRing, Signer
from projections.logins import connect_login
from projections.sealer import Sealer
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
    ) -> None:
        self.url = url
        self._workers: list[Follower | Sealer | Cosigners] = [Follower(url, batch_size=batch_size)]
        if signer is not None:
            self._workers.append(Sealer(url, signer, origin=origin))
        self.cosigners = cosigners
        if signer is not None and cosigners is not None:
            self._workers.append(cosigners)
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

    def _run(self, worker: Follower | Sealer | Cosigners) -> None:
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
