"""/metrics: Prometheus text format (not in the OpenAPI schema; no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api.http.deps import ServicesDep, known_query_only
from api.wiring.metrics import CONTENT_TYPE, LedgerPositions
from api.wiring.witnesses import current_report
from domain.application import ExportLedger
from projections.reads import ReadStore
from projections.sessions import pooled_session
from projections.sinks import store as sink_store
from sql import query
from sql.names import ADMIN_ROLE, READER_ROLE

router = APIRouter(tags=["operations"], dependencies=[Depends(known_query_only)])


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    positions = ledger_positions(services.ledger, services.reads)
    services.metrics.observe_positions(positions)
    with pooled_session(services.reads, ADMIN_ROLE) as conn:
        found_sinks = sink_store.listed(conn)
    services.metrics.observe_sinks(
        [(s.name, s.state, s.lag(positions.head), s.attempts) for s in found_sinks]
    )
    if services.settings.witnesses:
        with pooled_session(services.reads, READER_ROLE) as conn:
            found = current_report(conn, services.settings, services.projector)
        services.metrics.observe_witnesses(found)
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)


def ledger_positions(ledger: ExportLedger, reads: ReadStore) -> LedgerPositions:
    """Head, projection and sealer positions and the latest checkpoint's size (tracking
    and checkpoint rows, which the reader role may read; no user's exports)."""
    with pooled_session(reads, READER_ROLE) as conn:
        row = conn.execute(query("console", "ledger_positions")).fetchone()
    projected, sealed, size = row if row is not None else (0, 0, 0)
    return LedgerPositions(
        head=ledger.head_position(),
        projected=int(projected or 0),
        sealed=int(sealed or 0),
        checkpoint_size=int(size or 0),
    )
