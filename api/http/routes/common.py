"""Helpers shared by the export routes: ownership, ids and command responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response

from api.http.schemas import EXAMPLE_ID, ExportDetail
from domain.exports.ids import aggregate_id
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger

POSITION_HEADER = "X-Ledger-Position"

ExportIdPath = Annotated[
    str,
    Path(
        max_length=64,
        description="The export's id: exp_ + 26 characters, or the UUID an imported export kept.",
        examples=[EXAMPLE_ID],
    ),
]

POSITION_HEADERS: dict[str, Any] = {
    POSITION_HEADER: {
        "description": "Log position of the command's event: pass it as min_position to "
        "read your own write.",
        "schema": {"type": "integer"},
        "example": 17,
    }
}


def detail(state: ExportState) -> ExportDetail:
    return ExportDetail(
        id=aggregate_id(state.export_id),
        export_id=state.export_id,
        user_id=state.user_id,
        timestamp=state.created_at,
        format=state.format,  # type: ignore[arg-type]
        config=state.config,
        conversation_count=state.conversation_count,
        file_size=state.file_size,
        status=state.status,  # type: ignore[arg-type]
        file_url=state.file_url,
        expires_at=state.expires_at,
        error_message=state.error_message,
        created_at=state.created_at,
        updated_at=state.updated_at,
        version=state.version,
        position=state.position,
        file_sha256=state.file_sha256,
        row_count=state.row_count,
        download_count=state.download_count,
        last_actor=state.last_actor,
    )


def command_response(ledger: ExportLedger, state: ExportState, status_code: int = 200) -> Response:
    """A command's answer: the export's detail and its position header.

    Built here and returned as a Response, so FastAPI neither validates the model a
    second time nor serialises it again; for a ``def`` route that validation would
    also be one more hop to a worker thread. The route keeps its ``response_model``
    for the documentation."""
    body = detail(state).model_dump_json()
    response = Response(body, status_code=status_code, media_type="application/json")
    mark_position(response, ledger, state)
    return response


def mark_position(response: Response, ledger: ExportLedger, state: ExportState | None) -> None:
    """Tell the client the log position to wait for; the head when the event's is unknown."""
    position = state.position if state is not None else None
    if position is None:
        position = ledger.head_position()
    response.headers[POSITION_HEADER] = str(position)
