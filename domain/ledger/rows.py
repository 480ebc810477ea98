"""A row of the seed's ``export_logs`` table, written as the ledger's commands.

A client that writes rows (an insert, an update of some columns) gets each write
mapped onto the lifecycle: an insert is a request (walked along the legal path to
the status it names), an update is the status move it asks for, an expiry-only
change, or the file and error a move records. What the lifecycle refuses raises
before any event is pending, so a refused write records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.exceptions import IllegalTransition
from domain.exports.lifecycle import lifecycle_path
from domain.exports.model import ExportLog
from domain.exports.rules import check_completion, check_request, check_status
from domain.exports.values import Status

OUTCOME_COLUMNS = ("file_size", "file_url", "expires_at", "error_message")
"""What a status holds: a completed export's file and expiry, a failed one's error."""
_HELD_BY = {
    "file_size": Status.COMPLETED,
    "file_url": Status.COMPLETED,
    "expires_at": Status.COMPLETED,
    "error_message": Status.FAILED,
}


class OutcomeRecorded(IllegalTransition):
    """A file or error column that the ledger records once, with the move that sets it."""

    def __init__(self, export_id: str, status: str, column: str) -> None:
        self.column = column
        super().__init__(
            export_id,
            status,
            f"change {column} on its own",
            "it is recorded with the move that sets it (status completed or failed) "
            "and never rewritten",
        )


@dataclass(frozen=True, slots=True)
class RowValues:
    """The columns a write gives, typed; ``given`` names those present (null included)."""

    given: frozenset[str]
    status: str | None = None
    file_size: int | None = None
    file_url: str | None = None
    expires_at: datetime | None = None
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def new_export(
    *,
    export_id: str,
    user_id: str,
    format: str,
    config: dict[str, Any] | None,
    conversation_count: int,
    requested_at: datetime | None,
    values: RowValues,
    actor: str,
) -> ExportLog:
    """A new export as the row describes it: requested, then every move of the legal
    path to its status, the file and error it gives recorded with the moves that set them.
    ``requested_at`` (the client's ``timestamp``) is kept in the request's ``imported``
    times, as an import keeps a source row's."""
    fmt, valid_config = check_request(user_id, format, config, conversation_count)
    target = check_status(values.status) if values.status is not None else Status.QUEUED
    export = ExportLog(
        export_id=export_id,
        user_id=user_id,
        format=fmt,
        config=valid_config,
        conversation_count=conversation_count,
        actor=actor,
        imported={"timestamp": requested_at.isoformat()} if requested_at is not None else None,
    )
    _move(export, target, values, actor)
    return export


def change_export(export: ExportLog, values: RowValues, actor: str) -> None:
    """The update ``values`` asks of ``export``, pending on it (nothing when it asks
    for what the export already holds)."""
    target = check_status(values.status) if values.status is not None else None
    if target is not None and target != export.status:
        _move(export, target, values, actor)
        return
    for column in ("file_size", "file_url", "error_message"):
        if column in values.given and getattr(values, column) != getattr(export, column):
            raise OutcomeRecorded(export.export_id, str(export.status), column)
    if "expires_at" in values.given and values.expires_at != export.expires_at:
        export.change_expiry(actor, values.expires_at)


def _move(export: ExportLog, target: Status, values: RowValues, actor: str) -> None:
    path = lifecycle_path(export.status, target)
    if path is None:
        raise IllegalTransition(
            export.export_id, str(export.status), f"move to {target}", "no legal path leads there"
        )
    for column in OUTCOME_COLUMNS:
        if getattr(values, column) is not None and _HELD_BY[column] not in path:
            raise OutcomeRecorded(export.export_id, str(export.status), column)
    if Status.COMPLETED in path and values.file_size is not None and values.file_url is not None:
        check_completion(values.file_size, values.file_url, values.expires_at, None, None)
    export.advance_to(
        target,
        actor,
        file_size=values.file_size,
        file_url=values.file_url,
        expires_at=values.expires_at,
        error_message=values.error_message,
    )
