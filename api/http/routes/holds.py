"""/api/exports/{export_id}/holds: legal holds (admins), recorded as events.

While a hold is open the export cannot expire, be deleted or have its subject
erased; each refusal is a 409 problem naming the hold.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.http import problems
from api.http.deps import AdminDep, LedgerDep, known_query_only
from api.http.ownership import not_found, owned
from api.http.routes.common import POSITION_HEADERS, ExportIdPath, mark_position
from api.http.schemas_privacy import HOLD_EXAMPLE_ID, HoldCreate, HoldList, HoldPublic
from domain.exports.ids import is_export_id, is_hold_id
from domain.exports.views import ExportState

router = APIRouter(prefix="/api/exports", tags=["holds"], dependencies=[Depends(known_query_only)])

HoldIdPath = Annotated[
    str, Path(max_length=64, description="The hold's id: hold_ + 26 characters.",
              examples=[HOLD_EXAMPLE_ID])
]  # fmt: skip


def _public(state: ExportState) -> list[HoldPublic]:
    return [
        HoldPublic(
            hold_id=hold_id,
            export_id=state.export_id,
            matter=hold["matter"],
            reason=hold.get("reason"),
            placed_by=hold["placed_by"],
        )
        for hold_id, hold in state.holds.items()
    ]


@router.post(
    "/{export_id}/holds",
    status_code=201,
    response_model=HoldPublic,
    summary="Place a legal hold on an export (admins)",
    responses={
        201: {"description": "The hold, open.", "headers": POSITION_HEADERS},
        **problems.responses(400, 401, 403, 404, 409, 413, 422, 503),
    },
)
def place_hold(
    export_id: ExportIdPath, body: HoldCreate, admin: AdminDep, ledger: LedgerDep,
    response: Response,
) -> HoldPublic:  # fmt: skip
    if not is_export_id(export_id):
        raise not_found(export_id)
    hold_id, state = ledger.place_hold(
        export_id, matter=body.matter, reason=body.reason, actor=admin.user_id, caller=admin
    )
    mark_position(response, ledger, state)
    return next(h for h in _public(state) if h.hold_id == hold_id)


@router.get(
    "/{export_id}/holds",
    response_model=HoldList,
    summary="The open legal holds of an export (admins)",
    responses=problems.responses(401, 403, 404, 422, 503),
)
def list_holds(export_id: ExportIdPath, admin: AdminDep, ledger: LedgerDep) -> HoldList:
    return HoldList(holds=_public(owned(ledger, admin, export_id, include_deleted=True)))


@router.delete(
    "/{export_id}/holds/{hold_id}",
    status_code=204,
    response_class=Response,
    summary="Release a legal hold (admins)",
    responses={
        204: {"description": "Released.", "headers": POSITION_HEADERS},
        **problems.responses(401, 403, 404, 409, 422, 503),
    },
)
def release_hold(
    export_id: ExportIdPath, hold_id: HoldIdPath, admin: AdminDep, ledger: LedgerDep
) -> Response:
    if not is_hold_id(hold_id):
        owned(ledger, admin, export_id)  # a missing export is named first
        raise problems.Problem(
            404, f"export {export_id!r} has no open legal hold {hold_id!r}", kind="hold-not-found"
        )
    if not is_export_id(export_id):
        raise not_found(export_id)
    state = ledger.release_hold(export_id, hold_id, actor=admin.user_id, caller=admin)
    response = Response(status_code=204)
    mark_position(response, ledger, state)
    return response
