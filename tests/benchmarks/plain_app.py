"""The framework's own ceiling: a plain FastAPI endpoint doing one INSERT per request.

``POST /api/exports`` takes the same JSON body as the ledger's (parsed by a
pydantic model), inserts one row into ``bench_raw`` on a pool of 4
connections (the ledger's default pool size) in a worker thread, as a sync
route does, and answers 201. No auth, no events, no projection: what is left
is uvicorn, FastAPI, pydantic and one autocommit INSERT. Started by
``tests/benchmarks/ha.py`` as ``uvicorn --factory tests.benchmarks.plain_app:create``
with ``PLAIN_APP_DATABASE_URL`` set.
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
    format: str
    config: dict[str, Any]
    conversation_count: int


def create() -> FastAPI:
    pool = ConnectionPool(
        os.environ["PLAIN_APP_DATABASE_URL"], min_size=4, max_size=4, open=False,
        kwargs={"autocommit": True},
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        yield
        pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/exports", status_code=201)
    def create_export(body: Body) -> dict[str, str]:
        with pool.connection() as conn:
            conn.execute(RAW_INSERT, (body.model_dump_json(),))
        return {"status": "queued"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app
