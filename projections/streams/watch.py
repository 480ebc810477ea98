"""One LISTEN per process, shared by every event stream of that process.

Writers notify the events table's channel at commit, and the sealer notifies
``ledger_sealed`` after each checkpoint (sql/names.py). A :class:`LogWatcher` holds one
asynchronous connection that LISTENs on both, and wakes every waiting stream on each
notification; a stream then reads what is new itself. Waiting costs no thread: it is an
``asyncio.Event`` per notification, awaited by as many streams as there are.

A lost connection is made again (with a pause that grows to a few seconds), and every
stream is woken then, since notifications sent meanwhile are lost. Streams also wake on
their own after ``SAFETY_NET_SECONDS``, so a lost notification delays, never stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from projections.db.database import Database
from sql import statement
from sql.names import ADMIN_ROLE, EVENTS_CHANNEL, SEALED_CHANNEL

log = logging.getLogger("export_ledger.streams")
SAFETY_NET_SECONDS = 5.0
_RETRY_FIRST, _RETRY_MOST = 0.2, 5.0


class LogWatcher:
    """Wakes the streams of this process when the log grows or a checkpoint is signed."""

    def __init__(self, db: Database, role: str = ADMIN_ROLE) -> None:
        self._conninfo = db.conninfo(role)
        self._role = role
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pause = _RETRY_FIRST
        self.notifications = 0
        """How many notifications arrived (for tests and metrics)."""

    def changed(self) -> asyncio.Event:
        """The event the next notification sets: take it *before* reading, then wait on
        it, so a notification between the read and the wait is never missed."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="log-watcher")
        return self._changed

    async def wait(self, changed: asyncio.Event, timeout: float = SAFETY_NET_SECONDS) -> None:
        """Until ``changed`` is set or ``timeout`` passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except psycopg.Error as error:
                log.warning("the event stream's LISTEN connection failed: %s", error)
            self._wake()  # whatever was notified meanwhile is lost: everyone reads again
            await asyncio.sleep(self._pause)
            self._pause = min(self._pause * 2, _RETRY_MOST)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, options=f"-c role={self._role}"
        ) as conn:
            for channel in (EVENTS_CHANNEL, SEALED_CHANNEL):
                await conn.execute(statement("channels", "listen", channel=channel))
            self._pause = _RETRY_FIRST
            self._wake()
            async for _ in conn.notifies():
                self.notifications += 1
                self._wake()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
