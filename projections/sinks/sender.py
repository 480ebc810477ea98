"""Delivery to webhook sinks: at least once, in position order, one sender per sink.

The elected projector runs :class:`SinkSenders`; it starts a :class:`Sender` thread per
sink that is not paused, so a slow, failing or hanging sink holds up no other sink, and
no writer, follower or sealer (they share nothing with it but the database).

A sender works on its sink only while it holds the sink's lease (``event_sinks.lease_*``,
renewed before every attempt, for longer than an attempt may take): a projector that
stepped down, or whose process hangs, cannot send a batch the next one sends too. Each
batch (its position range and a fresh ``webhook-id``) is stored before its first attempt;
every retry re-renders those same positions and signs them afresh (a new
``webhook-timestamp``). A 2xx moves the cursor past the batch; anything else (another
status, a redirect, a timeout, a refused connection) is retried after an exponential
back-off with jitter, and after ``failing_after`` attempts the sink is marked failing,
never dropped: it keeps being retried at the longest back-off and resumes from its cursor.
Every attempt's result is recorded in ``event_sink_deliveries``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import orjson
import psycopg
from opentelemetry import trace
from standardwebhooks import Webhook

from projections.db.database import Database
from projections.sinks.targets import open_secret
from projections.streams import feed
from projections.streams.cloudevents import BATCH_MEDIA_TYPE
from sql import statement
from sql.names import ADMIN_ROLE, EVENTS_CHANNEL

log = logging.getLogger("export_ledger.sinks")
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True, slots=True)
class SinkSettings:
    key: bytes
    """The sink key the secrets are sealed under (kept outside the database)."""
    origin: str | None = None
    batch: int = 100
    lease_seconds: float = 30.0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    first_backoff: float = 1.0
    max_backoff: float = 300.0
    failing_after: int = 8
    poll: float = 1.0


@dataclass(frozen=True, slots=True)
class Leased:
    """A sink's row as its lease was taken."""

    name: str
    url: str
    types: list[str]
    user_id: str | None
    personal: bool
    secret_sealed: bytes
    state: str
    cursor: int
    batch_first: int | None
    batch_last: int | None
    batch_id: str | None
    attempts: int
    due: bool

    def query(self, after: int, limit: int) -> feed.FeedQuery:
        return feed.FeedQuery(after, limit, tuple(self.types), self.user_id)


class SinkSenders:
    """The projector's worker: a sender thread per deliverable sink, until stopped."""

    def __init__(self, db: Database, settings: SinkSettings, holder: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self.wake = threading.Condition()
        self._threads: dict[str, threading.Thread] = {}

    def run(self) -> None:
        """Until :meth:`stop`: start senders for new sinks, wake them on new events."""
        with self.db.projector(autocommit=True) as listener:
            listener.execute(statement("channels", "listen", channel=EVENTS_CHANNEL))
            while not self.stopping.is_set():
                self._start_senders(listener)
                for _ in listener.notifies(timeout=self.settings.poll, stop_after=1):
                    pass
                with self.wake:
                    self.wake.notify_all()
        self._join()

    def _start_senders(self, conn: psycopg.Connection[Any]) -> None:
        names = [str(r[0]) for r in conn.execute(statement("sinks", "deliverable_sinks"))]
        for name in names:
            thread = self._threads.get(name)
            if thread is None or not thread.is_alive():
                sender = Sender(self, name)
                self._threads[name] = threading.Thread(
                    target=sender.run, name=f"sink-{name}", daemon=True
                )
                self._threads[name].start()

    def _join(self) -> None:
        with self.wake:
            self.wake.notify_all()
        for thread in self._threads.values():
            thread.join(timeout=self.settings.read_timeout + self.settings.connect_timeout + 2)

    def stop(self) -> None:
        self.stopping.set()
        with self.wake:
            self.wake.notify_all()


class Sender:
    """One sink's deliveries, while this sender holds its lease."""

    def __init__(self, senders: SinkSenders, name: str) -> None:
        self.senders = senders
        self.name = name
        self.settings = senders.settings
        self.lease = {"name": name, "holder": senders.holder}

    def run(self) -> None:
        try:
            with (
                self.senders.db.projector(autocommit=True) as state,
                self.senders.db.connect(ADMIN_ROLE, autocommit=True) as reader,
                httpx.Client(
                    timeout=httpx.Timeout(
                        self.settings.read_timeout, connect=self.settings.connect_timeout
                    ),
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
            ):
                try:
                    while not self.senders.stopping.is_set() and self._step(state, reader, client):
                        pass
                finally:
                    state.execute(statement("sinks", "release_lease"), self.lease)
        except psycopg.Error as error:
            log.warning("sink %s: %s", self.name, error)

    def _step(
        self, state: psycopg.Connection[Any], reader: psycopg.Connection[Any], client: httpx.Client
    ) -> bool:
        """One turn: False when the sink is gone, paused or leased by another sender."""
        params = {**self.lease, "seconds": self.settings.lease_seconds}
        row = state.execute(statement("sinks", "take_lease"), params).fetchone()
        if row is None:
            return False
        sink = Leased(*row)
        if not sink.due:
            self._wait(self.settings.poll)
            return True
        if sink.batch_first is None or sink.batch_last is None or sink.batch_id is None:
            if not self._next_batch(state, reader, sink):
                self._wait(self.settings.poll)
            return True
        self._attempt(state, reader, client, sink)
        return True

    def _next_batch(
        self, state: psycopg.Connection[Any], reader: psycopg.Connection[Any], sink: Leased
    ) -> bool:
        """Store the next batch after the cursor; False when there is none yet."""
        limits = feed.bounds(reader)
        found = feed.rows(reader, sink.query(sink.cursor, self.settings.batch), limits.head)
        if not found:
            state.execute(statement("sinks", "skip_to"), {**self.lease, "cursor": limits.head})
            return False
        batch = {"first": found[0].position, "last": found[-1].position,
                 "batch_id": f"msg_{uuid4().hex}"}  # fmt: skip
        state.execute(statement("sinks", "set_batch"), {**self.lease, **batch})
        return True

    def _attempt(
        self,
        state: psycopg.Connection[Any],
        reader: psycopg.Connection[Any],
        client: httpx.Client,
        sink: Leased,
    ) -> None:
        assert sink.batch_first is not None and sink.batch_last is not None
        query = sink.query(sink.batch_first - 1, self.settings.batch)
        how = feed.rendering(reader, self.settings.origin, sink.personal)
        events = feed.rendered(feed.rows(reader, query, sink.batch_last), how)
        body = orjson.dumps(events)
        attributes: dict[str, str | int] = {"sink.name": sink.name, "sink.events": len(events),
                      "sink.attempt": sink.attempts + 1}  # fmt: skip
        with tracer.start_as_current_span("sink delivery", attributes=attributes) as span:
            status, error = self._send(client, sink, body)
            span.set_attribute("http.response.status_code", status or 0)
        result = {**self.lease, "batch_id": sink.batch_id, "first": sink.batch_first,
                  "last": sink.batch_last, "events": len(events),
                  "attempt": sink.attempts + 1, "status": status, "error": error}  # fmt: skip
        state.execute(statement("sinks", "record_delivery"), result)
        if error is None:
            state.execute(statement("sinks", "delivered"), result)
            return
        delay = self._backoff(sink.attempts)
        failing = {"delay": delay, "failing_after": self.settings.failing_after}
        state.execute(statement("sinks", "failed"), {**result, **failing})
        self._wait(min(delay, self.settings.poll))

    def _send(
        self, client: httpx.Client, sink: Leased, body: bytes
    ) -> tuple[int | None, str | None]:
        """POST a batch, signed now; (status, None) on a 2xx, else (status, why)."""
        assert sink.batch_id is not None
        secret = open_secret(self.settings.key, sink.name, bytes(sink.secret_sealed))
        now = datetime.now(UTC)
        headers = {
            "content-type": BATCH_MEDIA_TYPE,
            "webhook-id": sink.batch_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(sink.batch_id, now, body),
        }
        try:
            response = client.post(sink.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _backoff(self, attempts: int) -> float:
        longest = min(
            self.settings.max_backoff, self.settings.first_backoff * 2.0 ** min(attempts, 30)
        )
        return longest * random.uniform(0.5, 1.0)  # jitter: failing sinks do not retry in step

    def _wait(self, seconds: float) -> None:
        with self.senders.wake:
            self.senders.wake.wait(timeout=seconds)
