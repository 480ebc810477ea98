"""/api/exports/{export_id}/history: every stored event of an export."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from api.http import problems
from api.http.deps import LedgerDep, PrincipalDep, known_query_only
from api.http.ownership import owned
from api.http.routes.common import ExportIdPath
from api.http.schemas import HistoryEntryPublic

router = APIRouter(
    prefix="/api/exports", tags=["history"], dependencies=[Depends(known_query_only)]
)


@router.get(
    "/{export_id}/history",
    response_model=list[HistoryEntryPublic],
    summary="Every event of an export, oldest first (also after deletion)",
    responses=problems.responses(401, 404, 422, 503),
)
def export_history(
    export_id: ExportIdPath, principal: PrincipalDep, ledger: LedgerDep
) -> list[HistoryEntryPublic]:
    owned(ledger, principal, export_id, include_deleted=True)
    return [HistoryEntryPublic(**asdict(entry)) for entry in ledger.history(export_id)]
