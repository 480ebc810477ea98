"""Managing sinks: add, list, remove, pause, resume, replay (as the writer's login)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from domain.exceptions import InvalidSink, SinkExists, SinkNotFound
from projections.sinks.targets import check_name, check_target, new_secret, seal_secret
from projections.streams.cloudevents import topics_of
from sql import statement


@dataclass(frozen=True, slots=True)
class SinkCreate:
    name: str
    url: str
    types: tuple[str, ...] = ()
    user_id: str | None = None
    personal: bool = False


@dataclass(frozen=True, slots=True)
class SinkState:
    name: str
    url: str
    types: list[str]
    user_id: str | None
    personal: bool
    state: str
    cursor: int
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    lease_holder: str | None
    lease_until: datetime | None
    batch_first: int | None
    batch_last: int | None

    def lag(self, head: int) -> int:
        """Positions after the sink's cursor up to the head (gaps and filtered ones too)."""
        return max(0, head - self.cursor)

    def public(self, head: int) -> dict[str, Any]:
        values = {k: getattr(self, k) for k in self.__slots__}
        return {**values, "lag": self.lag(head)}


def add(
    conn: psycopg.Connection[Any], sink: SinkCreate, key: bytes, allowed_hosts: Collection[str]
) -> str:
    """Add a sink that delivers the events from now on; its secret (shown once)."""
    check_name(sink.name)
    check_target(sink.url, allowed_hosts)
    try:
        topics_of(sink.types)
    except ValueError as error:
        raise InvalidSink(str(error), "types") from None
    if sink.user_id is not None and not 0 < len(sink.user_id) <= 200:
        raise InvalidSink("a user id is 1 to 200 characters", "user_id")
    secret = new_secret()
    with conn.transaction():
        found = conn.execute(statement("read_model", "head_position")).fetchone()
        head = int(found[0]) if found else 0
        row = conn.execute(
            statement("sinks", "add_sink"),
            {"name": sink.name, "url": sink.url, "types": list(sink.types),
             "user_id": sink.user_id, "personal": sink.personal,
             "secret": seal_secret(key, sink.name, secret), "cursor": head},
        ).fetchone()  # fmt: skip
    if row is None:
        raise SinkExists(sink.name)
    return secret


def listed(conn: psycopg.Connection[Any]) -> list[SinkState]:
    return [SinkState(*row) for row in conn.execute(statement("sinks", "list_sinks"))]


_CHANGES = {
    "remove": "remove_sink",
    "pause": "pause_sink",
    "resume": "resume_sink",
    "replay": "replay_sink",
}


def change(conn: psycopg.Connection[Any], name: str, what: str, **params: Any) -> None:
    """``remove``, ``pause``, ``resume`` or ``replay`` (with ``cursor``) a sink."""
    with conn.transaction():
        row = conn.execute(statement("sinks", _CHANGES[what]), {"name": name, **params}).fetchone()
    if row is None:
        raise SinkNotFound(name)


def deliveries(conn: psycopg.Connection[Any], name: str, limit: int = 20) -> Sequence[Any]:
    return conn.execute(statement("sinks", "deliveries"), {"name": name, "limit": limit}).fetchall()
