"""/api/retention: retention policies (admins), and which one applies to an export.

Policies are events (who set what, when: domain/retention/policies.py); the exports
past them are shed by the projector's periodic run or ``export-ledger retain``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.http import problems
from api.http.deps import AdminDep, LedgerDep, known_query_only
from api.http.ownership import not_found
from api.http.routes.common import ExportIdPath
from api.http.schemas_retention import (
    POLICY_EXAMPLE_ID,
    ExportRetention,
    RetentionCreate,
    RetentionList,
    RetentionPublic,
)
from domain.exports.ids import is_export_id

router = APIRouter(
    prefix="/api/retention", tags=["retention"], dependencies=[Depends(known_query_only)]
)

PolicyIdPath = Annotated[
    str,
    Path(
        min_length=1, max_length=64, pattern=r"^ret_[0-9A-Z]+$",
        description="The policy's id.", examples=[POLICY_EXAMPLE_ID],
    ),
]  # fmt: skip


@router.get(
    "",
    response_model=RetentionList,
    summary="The retention policies in force (admins)",
    responses=problems.responses(401, 403, 503),
)
def list_policies(admin: AdminDep, ledger: LedgerDep) -> RetentionList:
    return RetentionList(policies=[RetentionPublic.of(p) for p in ledger.retention_policies()])


@router.post(
    "",
    response_model=RetentionPublic,
    status_code=201,
    summary="Set a retention policy (admins)",
    description="When several policies match an export, the longest wins: the one that "
    "falls due last.",
    responses=problems.responses(400, 401, 403, 409, 413, 422, 503),
)
def set_policy(body: RetentionCreate, admin: AdminDep, ledger: LedgerDep) -> RetentionPublic:
    policy = ledger.set_retention(
        after=body.after, basis=body.basis, format=body.format, status=body.status,
        actor=admin.user_id,
    )  # fmt: skip
    return RetentionPublic.of(policy)


@router.delete(
    "/{policy_id}",
    status_code=204,
    summary="Remove a retention policy (admins); exports it shed stay shed",
    responses=problems.responses(401, 403, 404, 409, 422, 503),
)
def remove_policy(policy_id: PolicyIdPath, admin: AdminDep, ledger: LedgerDep) -> Response:
    ledger.remove_retention(policy_id, actor=admin.user_id)
    return Response(status_code=204)


@router.get(
    "/exports/{export_id}",
    response_model=ExportRetention,
    summary="Which retention policy applies to an export, and when it falls due (admins)",
    responses=problems.responses(401, 403, 404, 422, 503),
)
def export_retention(
    export_id: ExportIdPath, admin: AdminDep, ledger: LedgerDep
) -> ExportRetention:
    if not is_export_id(export_id):
        raise not_found(export_id)
    decision = ledger.retention_of(export_id)
    return ExportRetention(
        export_id=export_id,
        shed_by=ledger.shed_by(export_id),
        policy=RetentionPublic.of(decision.policy) if decision else None,
        due_at=decision.due_at if decision else None,
    )
