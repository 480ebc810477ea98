"""The compliance export: stored events in log order, one record each, streamed.

A record (a JSON line, or a CSV row with these columns in this order)::

    position      the event's log position (notification id)
    timestamp     when it happened (ISO 8601, as stored)
    actor         who caused it (null for an idempotency claim)
    type          the event's class: Requested, Completed, Downloaded, ... Claimed
    export_id     the export it belongs to
    aggregate_id  the stored aggregate id (UUID)
    version       the aggregate's version
    topic         the stored topic
    data          the event's values (JSON; in CSV, JSON text)
    state         the stored state bytes, base64
    leaf_hash     the event's Merkle leaf hash (hex), as domain/tlog/merkle.py defines it

``position``, ``aggregate_id``, ``version``, ``topic`` and ``state`` are the
leaf's inputs, so anyone can recompute ``leaf_hash`` and check the lines against
a signed checkpoint (projections/audit/export_check.py); ``timestamp``, ``actor``,
``type`` and ``data`` are read from ``state``, so they are checked too.

``from`` and ``to`` are log positions, both included: a checkpoint covers the
log up to a position, and positions are exact and indexed, whereas an event's
timestamp is taken before it commits and need not follow log order.
"""

from __future__ import annotations

import csv
import io
from binascii import b2a_base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson
import psycopg

from domain import topics
from domain.tlog import merkle
from domain.topics import EXPORT_EVENT_PREFIX
from projections.readmodel.store import prefetched
from projections.subject_keys import subject_pseudonym
from sql import statement

Format = Literal["jsonl", "csv"]
Record = dict[str, Any]
COLUMNS = (
    "position", "timestamp", "actor", "type", "export_id", "aggregate_id", "version", "topic",
    "data", "state", "leaf_hash",
)  # fmt: skip
EventType = Literal[
    "Requested", "Imported", "ProcessingStarted", "Completed", "Failed", "Retried", "Downloaded",
    "Expired", "ExpiryChanged", "Deleted", "RetentionApplied", "Claimed",
]  # fmt: skip
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
EXPORT_EVENTS = EVENT_TYPES[:-1]
MEDIA_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
LAST = 2**63 - 1
BATCH = 5_000
_LINE = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True, slots=True)
class AuditFilters:
    start: int = 1
    end: int = LAST
    user_id: str | None = None
    type: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "user_id": self.user_id,
            "topic": topic_of(self.type),
        }


def topic_of(event_type: str | None) -> str | None:
    if event_type is None:
        return None
    if event_type == "Claimed":
        return topics.CLAIMED
    if event_type in EXPORT_EVENTS:
        return EXPORT_EVENT_PREFIX + event_type
    raise ValueError(f"unknown event type {event_type!r}; one of {', '.join(EVENT_TYPES)}")


def _params(conn: psycopg.Connection[Any], filters: AuditFilters) -> dict[str, Any]:
    """The filters' parameters; a user is found by their pseudonym in sealed events
    (domain/privacy) and by their clear user id in events stored before."""
    params = filters.params()
    params["subject"] = subject_pseudonym(conn, filters.user_id) if filters.user_id else None
    return params


def count(conn: psycopg.Connection[Any], filters: AuditFilters) -> int:
    name = "audit_count" if filters.user_id is not None else "audit_count_unfiltered"
    row = conn.execute(statement("audit", name), _params(conn, filters)).fetchone()
    return int(row[0]) if row else 0


def stream(
    conn: psycopg.Connection[Any], filters: AuditFilters, batch: int = BATCH
) -> Iterator[list[Record]]:
    """Batches of records in log order, through a server-side cursor: memory stays
    bounded by ``batch`` whatever the size of the log. Needs an open transaction.
    A thread fetches the next rows while these are described; it holds up to four
    chunks (two queued, one fetching, one described), so a chunk is a quarter batch."""
    with conn.cursor(name="audit_export", binary=True) as cur:
        cur.execute(statement("audit", "audit_events"), _params(conn, filters))
        for rows in prefetched(cur, max(1, batch // 4)):
            yield [describe(*row) for row in rows]


def describe(
    position: int, aggregate: bytes, version: int, topic: str, state: bytes, export_id: str | None
) -> Record:
    """The record of one stored event (see the module docstring). Runs once per event
    of an export, so it works in place: the state's values become ``data``."""
    aggregate = bytes(aggregate)
    values = orjson.loads(state)
    stamp = values.pop("timestamp", None)
    values.pop("originator_topic", None)
    actor = values.pop("actor", None)
    for key, value in values.items():  # no key is added or removed: safe while iterating
        if type(value) is dict and "_type_" in value and "_data_" in value:
            values[key] = value["_data_"]
    h = aggregate.hex()
    return {
        "position": position,
        "timestamp": _plain(stamp),
        "actor": actor,
        "type": topic.rsplit(".", 1)[-1],
        "export_id": export_id,
        "aggregate_id": f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",  # str(UUID(...))
        "version": version,
        "topic": topic,
        "data": values,
        "state": b2a_base64(state, newline=False).decode(),
        "leaf_hash": merkle.leaf_hash(position, aggregate, version, topic, state).hex(),
    }


def _plain(value: Any) -> Any:
    """A value as stored by the library's JSON transcoder, without its type wrapper."""
    if type(value) is dict and "_type_" in value and "_data_" in value:
        return value["_data_"]
    return value


def jsonl(records: Sequence[Record]) -> bytes:
    return b"".join([orjson.dumps(record, option=_LINE) for record in records])


def csv_text(records: Sequence[Record], header: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(csv_row(record) for record in records)
    return buffer.getvalue()


def csv_row(record: Record) -> list[str]:
    """A record as CSV cells: null is empty, data is JSON text."""
    cells = []
    for column in COLUMNS:
        value = record.get(column)
        if column == "data":
            cells.append(orjson.dumps(value).decode())
        else:
            cells.append("" if value is None else str(value))
    return cells


def encode(records: Sequence[Record], format: Format, first: bool) -> bytes:
    """A batch in the output format; the CSV header goes before the first batch."""
    if format == "jsonl":
        return jsonl(records)
    return csv_text(records, header=first).encode()


def chunks(batches: Iterator[list[Record]], format: Format) -> Iterator[bytes]:
    """The whole export as byte chunks, one per batch (a CSV header even when empty)."""
    first = True
    for records in batches:
        yield encode(records, format, first)
        first = False
    if first and format == "csv":
        yield csv_text([], header=True).encode()
