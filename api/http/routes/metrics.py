"""/metrics: Prometheus text format (not in the OpenAPI schema; no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api.http.deps import ServicesDep, known_query_only
from api.wiring.metrics import CONTENT_TYPE, LedgerPositions
from api.wiring.witnesses import current_report
from domain.application import ExportLedger
from projections.importing.sync_status import sync_lags
from projections.reads import ReadStore
from projections.sessions import pooled_session
from sql import query
from sql.names import READER_ROLE

router = APIRouter(tags=["operations"], dependencies=[Depends(known_query_only)])


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    services.metrics.observe_positions(ledger_positions(services.ledger, services.reads))
    with pooled_session(services.reads, READER_ROLE) as conn:
        services.metrics.observe_syncs(sync_lags(conn))
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
