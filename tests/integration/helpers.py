"""Helpers shared by the integration tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from domain import topics
from domain.exports.ids import aggregate_id
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from sql.names import WRITER_ROLE

EVENTS_TABLE = "exportledger_events"
SHA = "ab" * 32
FILE_URL = "s3://exports/exp.json"
REQUESTED_TOPIC = topics.REQUESTED
CLAIMED_TOPIC = topics.CLAIMED


def connect_as(url: str, role: str | None = None) -> psycopg.Connection[dict[str, Any]]:
    """An autocommit connection as the URL's own user, or as ``role``'s login, the way
    the application connects (projections/db/logins.py), never by SET ROLE from the URL's user."""
    if role is None:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row)
    conn = Database(url).connect(role, autocommit=True)
    conn.row_factory = dict_row
    return conn


def connect_writer(url: str) -> psycopg.Connection[dict[str, Any]]:
    return connect_as(url, WRITER_ROLE)


def request(ledger: ExportLedger, user_id: str = "u1", **kwargs: Any) -> ExportState:
    body: dict[str, Any] = {"format": "json", "config": {}, "conversation_count": 3}
    body.update(kwargs)
    return ledger.request_export(user_id=user_id, **body)


def complete(
    ledger: ExportLedger, export_id: str, expires_at: datetime | None = None
) -> ExportState:
    """Start and complete an export (two events)."""
    ledger.start_processing(export_id, actor="worker")
    return ledger.complete(
        export_id,
        file_size=1024,
        file_url=FILE_URL,
        expires_at=expires_at or datetime.now(UTC) + timedelta(days=7),
        file_sha256=SHA,
        row_count=3,
        actor="worker",
    )


def stored_rows(url: str, export_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored event row (or one export's), read as the owner, in log order."""
    query = f"SELECT originator_id, originator_version, topic, notification_id FROM {EVENTS_TABLE}"
    params: tuple[UUID, ...] = ()
    if export_id is not None:
        query += " WHERE originator_id = %s"
        params = (aggregate_id(export_id),)
    with connect_as(url) as conn:
        return conn.execute(query + " ORDER BY notification_id", params).fetchall()


def count_topic(url: str, topic: str) -> int:
    with connect_as(url) as conn:
        row = conn.execute(
            f"SELECT count(*) AS n FROM {EVENTS_TABLE} WHERE topic = %s", (topic,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def run_together(*calls: Callable[[], Any], timeout: float = 30) -> list[Any]:
    """Run each call in its own thread; return each result or the exception it raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        results: list[Any] = []
        for future in futures:
            error = future.exception(timeout=timeout)
            results.append(error if error is not None else future.result())
    return results
