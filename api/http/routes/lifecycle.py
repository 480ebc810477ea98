"""PATCH /api/exports/{export_id}: which lifecycle command an update runs.

A target status runs its command; an illegal move is a 409 naming both statuses.
An update without a status may only change a completed export's expiry; file and
error fields on their own are a 409 (the ledger records them with the move that
sets them, and never rewrites them). The command itself checks that the caller may
act on the export (one load of its events serves the check and the command).
"""

from __future__ import annotations

from typing import Any

from api.http.problems import Problem, invalid_field
from api.http.schemas_commands import (
    FieldsUpdate,
    ToCompleted,
    ToExpired,
    ToFailed,
    ToProcessing,
    ToQueued,
)
from domain.exceptions import IllegalTransition
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from projections.reads.read_store import Principal


def run_update(ledger: ExportLedger, export_id: str, update: Any, caller: Principal) -> ExportState:
    """The export after the command ``update`` asks for."""
    if isinstance(update, FieldsUpdate):
        return _change_fields(ledger, export_id, update, caller)
    try:
        return _run(ledger, export_id, update, caller)
    except IllegalTransition as error:
        raise Problem(
            409,
            f"export {export_id!r} is {error.status}: it cannot move to {update.status}",
            kind="illegal-transition",
            current_status=str(error.status),
            requested_status=update.status,
        ) from None


def _change_fields(
    ledger: ExportLedger, export_id: str, update: FieldsUpdate, caller: Principal
) -> ExportState:
    """An update without a status: a new expiry for a completed export, nothing else."""
    given = update.model_fields_set
    if not given:
        raise invalid_field("body", "give a status, or expires_at to change only the expiry")
    if given != {"expires_at"}:
        moved = ", ".join(sorted(given - {"expires_at"}))
        raise Problem(
            409,
            f"{moved} of export {export_id!r} cannot change on its own: the ledger records "
            "them with the move that sets them (status completed or failed), and never "
            "rewrites them",
            kind="immutable-field",
        )
    try:
        return ledger.change_expiry(
            export_id, expires_at=update.expires_at, actor=caller.user_id, caller=caller
        )
    except IllegalTransition as error:
        raise Problem(
            409,
            f"export {export_id!r} is {error.status}: only a completed export's expiry may "
            "change (not once it has expired or been deleted)",
            kind="illegal-transition",
            current_status=str(error.status),
        ) from None


def _run(ledger: ExportLedger, export_id: str, update: Any, caller: Principal) -> ExportState:
    actor = caller.user_id
    if isinstance(update, ToProcessing):
        return ledger.start_processing(export_id, actor=actor, caller=caller)
    if isinstance(update, ToCompleted):
        return ledger.complete(
            export_id,
            file_size=update.file_size,
            file_url=update.file_url,
            expires_at=update.expires_at,
            file_sha256=update.file_sha256,
            row_count=update.row_count,
            actor=actor,
            caller=caller,
        )
    if isinstance(update, ToFailed):
        return ledger.fail(
            export_id, error_message=update.error_message, actor=actor, caller=caller
        )
    if isinstance(update, ToQueued):
        return ledger.retry(export_id, actor=actor, caller=caller)
    assert isinstance(update, ToExpired)
    return ledger.expire(export_id, actor=actor, caller=caller)
