"""The seed's ``export_logs`` table for the import's tests and benchmark: its 14
columns and 7 indexes (the seed's count, primary key included), and rows shaped
like the old service's (UUID ids, every status, camelCase configs)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from domain.sync.rows import SEED_COLUMNS

COLUMNS = SEED_COLUMNS
STATUSES = ("queued", "processing", "completed", "failed", "expired")
FORMATS = ("json", "jsonl", "csv", "markdown")

_TABLE = """
CREATE TABLE {table} (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    export_id uuid NOT NULL UNIQUE,
    user_id uuid NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    format text NOT NULL CHECK (format IN ('json', 'jsonl', 'csv', 'markdown')),
    config jsonb NOT NULL,
    conversation_count integer NOT NULL,
    file_size bigint,
    status text NOT NULL
        CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'expired')),
    file_url text,
    expires_at timestamptz,
    error_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
_INDEXES = ("user_id", "status", '"timestamp" DESC', "expires_at", "format")
_ERRORS = ("storage quota exceeded", "worker timed out", "conversation 4711 failed to render")

Row = dict[str, Any]


def create_table(conn: psycopg.Connection[Any], table: str, *, indexes: bool = True) -> None:
    """The seed-shaped table (``schema.table`` allowed); without ``indexes``, only
    its primary key and the unique export_id."""
    name = sql.Identifier(*table.split("."))
    conn.execute(sql.SQL(_TABLE).format(table=name))
    for column in _INDEXES if indexes else ():
        conn.execute(sql.SQL("CREATE INDEX ON {} (" + column + ")").format(name))


def seed_row(rng: random.Random, now: datetime, status: str | None = None) -> Row:
    """One row as the old service leaves it, in a random (or the given) status."""
    status = status or rng.choice(STATUSES)
    fmt = rng.choice(FORMATS)
    export_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    created = now - timedelta(seconds=rng.randrange(1, 90 * 86_400))
    done = status in ("completed", "expired")
    expires = created + timedelta(days=rng.choice((7, 30)))
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "export_id": export_id,
        "user_id": uuid.UUID(int=rng.randrange(500), version=4),
        "timestamp": created,
        "format": fmt,
        "config": seed_config(rng, fmt),
        "conversation_count": rng.randint(1, 5000),
        "file_size": rng.randint(1_000, 50_000_000) if done else None,
        "status": status,
        "file_url": f"https://storage.example.com/exports/{export_id}.{fmt}" if done else None,
        "expires_at": expires if done else None,
        "error_message": rng.choice(_ERRORS) if status == "failed" else None,
        "created_at": created,
        "updated_at": created + timedelta(minutes=rng.randint(0, 30)),
    }


def seed_config(rng: random.Random, fmt: str) -> dict[str, Any]:
    """The seed's ExportConfig in camelCase, with its format inside (or without)."""
    config: dict[str, Any] = {
        "scope": rng.choice(("all", "filtered", "selected")),
        "includeMetadata": rng.random() < 0.8,
        "includeQualityScores": True,
        "includeTimestamps": True,
        "includeApprovalHistory": rng.random() < 0.3,
        "includeParentReferences": False,
        "includeFullContent": rng.random() < 0.9,
    }
    if rng.random() < 0.9:
        config["format"] = fmt
    if config["scope"] == "filtered":
        config["filters"] = {"tiers": ["template"], "qualityScoreMin": 6.5}
    elif config["scope"] == "selected":
        config["conversationIds"] = [f"conv-{rng.randrange(100)}" for _ in range(3)]
    return config


def seed_rows(count: int, rng: random.Random, now: datetime | None = None) -> list[Row]:
    moment = now or datetime.now(UTC)
    return [seed_row(rng, moment, STATUSES[i % len(STATUSES)]) for i in range(count)]


def copy_rows(conn: psycopg.Connection[Any], table: str, rows: Iterator[Row] | list[Row]) -> None:
    name = sql.Identifier(*table.split("."))
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(name, columns)
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if k == "config" else v for k, v in row.items()])
