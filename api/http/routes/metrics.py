"""/metrics: Prometheus text format (not in the OpenAPI schema; no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from api.http.deps import ServicesDep, known_query_only
from api.wiring.metrics import CONTENT_TYPE
from api.wiring.witnesses import current_report
from projections.importing.sync_status import sync_lags
from projections.reads.positions import ledger_positions
from projections.reads.sessions import pooled_session
from projections.sinks import store as sink_store
from sql.names import ADMIN_ROLE, READER_ROLE

router = APIRouter(tags=["operations"], dependencies=[Depends(known_query_only)])


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    with pooled_session(services.reads, READER_ROLE) as conn:
        positions = ledger_positions(conn, services.ledger.head_position())
        services.metrics.observe_syncs(sync_lags(conn))
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

