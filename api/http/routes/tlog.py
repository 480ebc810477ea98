"""The log in the transparency-log ecosystem's own formats, read-only and without a token:
``GET /checkpoint`` (c2sp.org/tlog-checkpoint, a signed note with the witnesses'
cosignatures) and the tiles of c2sp.org/tlog-tiles. They carry hashes only, so anyone may
read them; the leaves' data stays behind the API's authorisation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.http import problems
from api.http.deps import ReadsDep, known_query_only
from api.http.problems import Problem
from projections.checkpoints import latest_note
from projections.sessions import pooled_session
from sql.names import READER_ROLE

router = APIRouter(tags=["ledger"], dependencies=[Depends(known_query_only)])
NOTE_TYPE = "text/plain; charset=utf-8"


@router.get(
    "/checkpoint",
    summary="The latest checkpoint as a C2SP signed note, with its cosignatures",
    description="The note text is the log's origin, tree size and base64 root, then the "
    "`position` and `time` extension lines; its signature lines are the log's, then each "
    "witness's cosignature. Open it with the log's vkey (`GET /api/ledger/public-key`).",
    response_class=Response,
    responses={
        200: {"content": {NOTE_TYPE: {}}, "description": "The signed note."},
        **problems.responses(404, 503),
    },
)
def get_checkpoint_note(reads: ReadsDep) -> Response:
    with pooled_session(reads, READER_ROLE) as conn:
        note = latest_note(conn)
    if note is None:
        raise Problem(404, "no C2SP checkpoint signed yet", kind="checkpoint-not-found")
    return Response(note, media_type=NOTE_TYPE, headers={"Cache-Control": "no-cache"})
