"""The log in the transparency-log ecosystem's own formats, read-only and without a token:
``GET /checkpoint`` (c2sp.org/tlog-checkpoint, a signed note with the witnesses'
cosignatures) and the tiles of c2sp.org/tlog-tiles. They carry hashes only, so anyone may
read them; the leaves' data stays behind the API's authorisation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.http import problems
from api.http.deps import AdminDep, ReadsDep, known_query_only
from api.http.problems import Problem
from domain.tlog import tiles
from projections.reads.sessions import pooled_session
from projections.tlog.checkpoints import latest_note
from projections.tlog.served_tiles import read_entries, read_tile
from sql.names import ADMIN_ROLE, READER_ROLE

router = APIRouter(tags=["ledger"], dependencies=[Depends(known_query_only)])
NOTE_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
TILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {TILE_TYPE: {}}, "description": "The tile's bytes."},
}


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


def _index(text: str) -> tuple[int, int | None]:
    try:
        return tiles.parse_index(text)
    except ValueError as error:
        raise Problem(404, str(error), kind="tile-not-found") from None


def _tile_response(found: bytes | None, path: str, width: int | None) -> Response:
    if found is None:
        raise Problem(404, f"the tree has no {path} yet", kind="tile-not-found")
    cache = IMMUTABLE if width is None else "public, max-age=60"
    return Response(found, media_type=TILE_TYPE, headers={"Cache-Control": cache})


@router.get(
    "/tile/entries/{index:path}",
    summary="An entry bundle: the leaves' bytes (admin)",
    description="Each leaf's bytes (domain/tlog/merkle.py) after a 2-byte big-endian length, "
    "for leaves 256·N on; `.p/W` for the first W of a partial bundle. The leaves carry the "
    "events' data, so an admin token is needed.",
    response_class=Response,
    responses={**TILE_RESPONSES, **problems.responses(401, 403, 404, 422, 503)},
)
def get_entries(index: str, _: AdminDep, reads: ReadsDep) -> Response:
    number, width = _index(index)
    with pooled_session(reads, ADMIN_ROLE) as conn:
        try:
            found = read_entries(conn, number, width)
        except ValueError as error:
            raise Problem(422, str(error), kind="entry-too-large") from None
    return _tile_response(found, tiles.tile_path("entries", number, width), width)


@router.get(
    "/tile/{level}/{index:path}",
    summary="A tile of the Merkle tree (c2sp.org/tlog-tiles)",
    description="256 hashes (a full tile, immutable) or the first W (`.p/W`) of the tree "
    "nodes at height 8·L, from index 256·N; 404 until the tree has them all.",
    response_class=Response,
    responses={**TILE_RESPONSES, **problems.responses(404, 422, 503)},
)
def get_tile(level: str, index: str, reads: ReadsDep) -> Response:
    try:
        number = tiles.parse_level(level)
    except ValueError as error:
        raise Problem(404, str(error), kind="tile-not-found") from None
    position, width = _index(index)
    with pooled_session(reads, READER_ROLE) as conn:
        found = read_tile(conn, number, position, width)
    return _tile_response(found, tiles.tile_path(number, position, width), width)
