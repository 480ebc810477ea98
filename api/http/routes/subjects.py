"""/api/subjects/{user_id}: data subjects (admins): erasure by crypto-shredding."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response

from api.http import problems
from api.http.deps import AdminDep, ReadAfter, ServicesDep, known_query_only, wait_for_read
from api.http.routes.common import POSITION_HEADERS, mark_position
from api.http.schemas import NOT_BLANK
from api.http.schemas_privacy import ErasureCreate, ErasurePublic
from domain.subjects import Erasure
from projections.subject_keys import ReadModelSubjects

router = APIRouter(
    prefix="/api/subjects", tags=["subjects"], dependencies=[Depends(known_query_only)]
)

UserIdPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NOT_BLANK, description="The user's id.")
]


def public(erasure: Erasure) -> ErasurePublic:
    count = len(erasure.export_ids)
    detail = (
        f"subject erased: {count} export{'s' if count != 1 else ''}"
        if erasure.erased_now
        else "the subject was erased before: nothing more was recorded"
    )
    return ErasurePublic(
        subject=erasure.subject, erased_now=erasure.erased_now, erased_by=erasure.erased_by,
        reason=erasure.reason, export_ids=erasure.export_ids, detail=detail,
    )  # fmt: skip


@router.post(
    "/{user_id}/erasure",
    response_model=ErasurePublic,
    status_code=201,
    summary="Erase a data subject (admins): destroy their key, record Erased",
    description="Final. A second erasure records nothing and answers 200 saying so. "
    "Refused (409, naming the hold) while any of the subject's exports is under legal hold.",
    responses={
        201: {"description": "Erased now.", "headers": POSITION_HEADERS},
        200: {"description": "Erased before; nothing recorded."},
        **problems.responses(400, 401, 403, 409, 422, 503),
    },
)
def erase_subject(
    user_id: UserIdPath,
    admin: AdminDep,
    services: ServicesDep,
    response: Response,
    body: Annotated[ErasureCreate | None, Body()] = None,
) -> ErasurePublic:
    wait_for_read(services, services.reads, ReadAfter())  # the subject's exports and holds
    erasure = services.ledger.erase_subject(
        user_id,
        actor=admin.user_id,
        reason=body.reason if body else None,
        exports=ReadModelSubjects(services.database.url),
    )
    if not erasure.erased_now:
        response.status_code = 200
    else:
        mark_position(response, services.ledger, None)
    return public(erasure)
