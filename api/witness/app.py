"""The witness over HTTP: ``POST /add-checkpoint`` (c2sp.org/tlog-witness), and
``GET /checkpoint?origin=O``, the latest checkpoint it cosigned for a log with its
cosignature, and ``GET /checkpoints?origin=O``, every one it cosigned (what
``export-ledger verify --against-witness`` asks for)."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from api.witness.core import Witness
from api.witness.state import Refusal

MAX_BODY = 64 * 1024
TEXT = "text/plain; charset=utf-8"


def witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title="Export Ledger witness", docs_url=None, redoc_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(f"a request is at most {MAX_BODY} bytes\n", 413, media_type=TEXT)
        answer = await to_thread.run_sync(witness.add_checkpoint, body)
        if isinstance(answer, Refusal):
            # set as a header: Starlette would add a charset to text/x.tlog.size
            return Response(
                answer.body, answer.status, headers={"Content-Type": answer.content_type}
            )
        return Response(answer.cosignature, 200, media_type=TEXT)

    @app.get("/checkpoint")
    def latest(origin: Annotated[str, Query(min_length=1, max_length=256)]) -> Response:
        if origin not in witness.logs:
            return Response(f"unknown log {origin!r}\n", 404, media_type=TEXT)
        found = witness.state.latest(origin)
        if found.size == 0:
            return Response(f"nothing cosigned for {origin!r} yet\n", 404, media_type=TEXT)
        return Response(found.note + found.cosignature.encode(), 200, media_type=TEXT)

    @app.get("/checkpoints")
    def history(origin: Annotated[str, Query(min_length=1, max_length=256)]) -> dict[str, object]:
        """Every checkpoint it cosigned for the log, smallest first, as notes."""
        found = witness.state.history(origin) if origin in witness.logs else []
        return {"origin": origin, "checkpoints": [note.decode() for note in found]}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "vkey": witness.key.text()}

    return app
