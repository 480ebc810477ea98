"""Whose export it is: the check the export routes and the console pages share."""

from __future__ import annotations

from api.http.problems import Problem
from domain.exports.ids import is_export_id
from domain.exports.values import Status
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from projections.reads.read_store import Principal


def not_found(export_id: str) -> Problem:
    return Problem(404, f"export {export_id!r} not found", kind="not-found")


def owned(
    ledger: ExportLedger, principal: Principal, export_id: str, *, include_deleted: bool = False
) -> ExportState:
    """The export's current state from its events, if the caller may act on it.

    Someone else's export is reported exactly like a missing one, so ids of
    other users' exports cannot be probed.
    """
    if not is_export_id(export_id):
        raise not_found(export_id)
    state = ledger.get(export_id)
    mine = principal.admin or state.user_id == principal.user_id
    if not mine or (state.status == Status.DELETED and not include_deleted):
        raise not_found(export_id)
    return state
