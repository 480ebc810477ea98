"""/api/exports/{export_id}/downloads: record that a completed export's file was fetched."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from api.http import problems
from api.http.deps import LedgerDep, PrincipalDep, known_query_only
from api.http.ownership import not_found
from api.http.routes.common import POSITION_HEADERS, ExportIdPath, command_response
from api.http.schemas import ExportDetail
from api.http.schemas_commands import DownloadCreate
from domain.exports.ids import is_export_id

router = APIRouter(
    prefix="/api/exports", tags=["downloads"], dependencies=[Depends(known_query_only)]
)


@router.post(
    "/{export_id}/downloads",
    response_model=ExportDetail,
    summary="Record a download",
    description="Only a completed export whose file has not expired can be downloaded.",
    responses={
        200: {"description": "The export, with one more download.", "headers": POSITION_HEADERS},
        **problems.responses(400, 401, 404, 409, 413, 422, 503),
    },
)
def record_download(
    export_id: ExportIdPath,
    principal: PrincipalDep,
    ledger: LedgerDep,
    body: Annotated[DownloadCreate | None, Body()] = None,
) -> Response:
    if not is_export_id(export_id):
        raise not_found(export_id)
    state = ledger.record_download(
        export_id,
        actor=principal.user_id,
        file_sha256=body.file_sha256 if body else None,
        caller=principal,
    )
    return command_response(ledger, state)
