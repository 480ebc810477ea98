"""The framework's floor for the write path: a plain FastAPI app whose one endpoint
inserts one row per request, run by ``write_path`` beside the ledger's API.

``uvicorn tests.benchmarks.plain_api:app`` with ``PLAIN_API_DATABASE_URL`` set: one
process, a psycopg pool of 4 connections (the API's default), a ``def`` route (so a
worker-thread hop, as the ledger's routes have), a pydantic body and response, and
one autocommit INSERT of the body's JSON into ``bench_raw``. No auth, middleware,
logging or metrics: what any FastAPI endpoint that writes one row pays.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from tests.benchmarks.workload import RAW_INSERT


class Body(BaseModel):
    format: str | None = None
    config: dict[str, Any] | None = None
    conversation_count: int = 0
    status: str | None = None
    expires_at: str | None = None


class Stored(BaseModel):
    id: int
    format: str | None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    with ConnectionPool(
        os.environ["PLAIN_API_DATABASE_URL"], min_size=4, max_size=4, kwargs={"autocommit": True}
    ) as pool:
        app.state.pool = pool
        yield


app = FastAPI(lifespan=_lifespan)


def _insert(body: Body) -> Stored:
    pool: ConnectionPool = app.state.pool
    with pool.connection() as conn:
        row = conn.execute(RAW_INSERT + " RETURNING id", (body.model_dump_json(),)).fetchone()
    assert row is not None
    return Stored(id=row[0], format=body.format)


@app.post("/api/exports", status_code=201)
def create(body: Body) -> Stored:
    return _insert(body)


@app.patch("/api/exports/{export_id}")
def update(export_id: str, body: Body) -> Stored:
    return _insert(body)
