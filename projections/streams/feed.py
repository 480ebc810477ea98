"""The event feed: pages of stored events after a cursor, as CloudEvents, in log order.

A cursor is a log position: ``after=0`` is the start, and a page's next cursor is the
last position it read. A page that comes back short has read to the head (or, with
``sealed``, to the latest checkpoint), so its next cursor is that bound: a client that
follows it never reads a position twice, and never misses one, because writers commit
in position order (every write holds the events table's lock through its commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import psycopg

from domain.privacy import KEY_MARKER
from projections.streams.cloudevents import Rendering, StoredRow, render, topics_of
from projections.subject_keys import KeySnapshot, subject_pseudonym
from projections.tlog.checkpoints import DEFAULT_ORIGIN_HOST, known_origin
from projections.tlog.keys import all_keys
from sql import statement

MAX_LIMIT = 1000
_MARKED = f'"{KEY_MARKER}"'.encode()
_LINE = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True, slots=True)
class FeedQuery:
    after: int = 0
    limit: int = 100
    types: tuple[str, ...] = ()
    user_id: str | None = None
    sealed: bool = False
    """Only events a checkpoint covers."""


@dataclass(frozen=True, slots=True)
class Bounds:
    head: int
    """The position of the last stored event (0: none)."""
    sealed: int
    """The position the latest checkpoint covers (0: none)."""

    def upto(self, sealed: bool) -> int:
        return self.sealed if sealed else self.head


@dataclass(frozen=True, slots=True)
class Page:
    events: list[dict[str, Any]]
    next_after: int

    def jsonl(self) -> bytes:
        return b"".join([orjson.dumps(event, option=_LINE) for event in self.events])


def bounds(conn: psycopg.Connection[Any]) -> Bounds:
    row = conn.execute(statement("streams", "feed_bounds")).fetchone()
    assert row is not None
    return Bounds(int(row[0]), int(row[1]))


def rendering(
    conn: psycopg.Connection[Any], configured_origin: str | None, personal: bool = False
) -> Rendering:
    """How this connection's reader renders: the log's origin as its checkpoints name
    it, the pseudonyms' secret, and the subjects' keys when personal fields are opened."""
    keys = all_keys(conn)
    origin = known_origin(conn, configured_origin, keys[0].key_id if keys else None)
    row = conn.execute(statement("subjects", "subject_secret")).fetchone()
    return Rendering(
        source=origin or DEFAULT_ORIGIN_HOST,
        secret=None if row is None else bytes(row[0]),
        personal=KeySnapshot(conn) if personal else None,
    )


def rows(
    conn: psycopg.Connection[Any], query: FeedQuery, upto: int, subject: str | None = None
) -> list[StoredRow]:
    """The stored rows of a page (``subject``: the user's pseudonym, when filtered)."""
    if subject is None and query.user_id is not None:
        subject = subject_pseudonym(conn, query.user_id)
    params = {
        "after": query.after,
        "upto": upto,
        "limit": query.limit,
        "topics": topics_of(query.types),
        "user_id": query.user_id,
        "subject": subject,
    }
    with conn.cursor(binary=True) as cur:
        cur.execute(statement("streams", "feed_events"), params)
        return [StoredRow(*row) for row in cur.fetchall()]


def rendered(found: list[StoredRow], how: Rendering) -> list[dict[str, Any]]:
    """The rows as CloudEvents; the keys of the exports among them that have one read
    first, in one statement, when their personal fields are opened."""
    if isinstance(how.personal, KeySnapshot):
        how.personal.preload_exports(
            {UUID(bytes=bytes(r.aggregate_id)) for r in found if _MARKED in r.state}
        )
    return [render(row, how) for row in found]


def page(conn: psycopg.Connection[Any], query: FeedQuery, limits: Bounds, how: Rendering) -> Page:
    """One page after ``query.after``, read within ``limits`` (read first, in the same
    snapshot: the caller runs both in one repeatable-read transaction)."""
    upto = limits.upto(query.sealed)
    found = rows(conn, query, upto)
    events = rendered(found, how)
    full = len(found) == query.limit
    next_after = found[-1].position if full else max(upto, query.after)
    return Page(events, next_after)
