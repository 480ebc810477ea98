"""/api/subjects/{user_id}: data subjects (admins): erasure by crypto-shredding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.http import problems
from api.http.deps import (
    AdminDep,
    PrincipalDep,
    ReadAfter,
    ServicesDep,
    known_query_only,
    wait_for_read,
)
from api.http.routes.common import POSITION_HEADERS, mark_position
from api.http.schemas import NOT_BLANK
from api.http.schemas_privacy import ErasureCreate, ErasurePublic
from domain.ledger.erasure import Erasure
from projections.audit import export as audit
from projections.audit.subject_report import report_batches
from projections.reads.sessions import streaming_session
from projections.subject_keys import ReadModelSubjects
from sql.names import ADMIN_ROLE

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
        200: {
            "description": "Erased before; nothing recorded.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErasurePublic"}}
            },
        },
        **problems.responses(400, 401, 403, 409, 413, 422, 503),
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
        exports=ReadModelSubjects(services.database),
    )
    if erasure.erased_now:
        mark_position(response, services.ledger, None)
    else:
        response.status_code = 200
    # Answered once the read tables (the primary's, and the replicas' in rotation) no
    # longer show the fields: the erasure itself waited out every process's key cache.
    position = erasure.position or services.ledger.head_position()
    wait = services.settings.read_wait_seconds
    if not services.reads.wait_everywhere(position, wait, services.watcher):
        raise problems.unavailable(
            f"the subject is erased (position {position}), but the read tables do not "
            "show it yet: retry the erasure to wait for them again"
        )
    return public(erasure)


@router.get(
    "/{user_id}/report",
    response_class=StreamingResponse,
    summary="A data subject's access report (admins, or the subject)",
    description="Every event about the subject in the audit export's format (checkable "
    "with `export-ledger verify-export` against a signed checkpoint), each with its "
    "personal fields opened (`opened`), the key each is sealed under (`sealed_by`: "
    "`subject` or `export`), and the keys while they exist (`subject_key`, `export_key`) "
    "to check those values against the sealed state (`report_format`: 2).",
    responses={
        200: {
            "description": "The subject's events in log order, one record per line.",
            "content": {audit.MEDIA_TYPES["jsonl"]: {"schema": {"type": "string"}}},
        },
        **problems.responses(401, 403, 422, 503),
    },
)
def subject_report(
    user_id: UserIdPath, principal: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    if not principal.admin and principal.user_id != user_id:
        raise problems.Problem(403, "only admins, or the subject themselves, may read a report")
    conn = streaming_session(services.database, ADMIN_ROLE)
    try:
        batches = report_batches(conn, user_id)
        first = next(batches, None)  # the query runs now: its errors are still problems
    except BaseException:
        conn.close()
        raise

    def body() -> Iterator[bytes]:
        try:
            if first is not None:
                yield audit.jsonl(first)
            for batch in batches:
                yield audit.jsonl(batch)
        finally:
            batches.close()  # type: ignore[attr-defined]
            conn.close()

    return StreamingResponse(
        body(),
        media_type=audit.MEDIA_TYPES["jsonl"],
        headers={"Content-Disposition": 'attachment; filename="subject-report.jsonl"'},
        background=BackgroundTask(conn.close),
    )
