"""Rows of another system's export table (the seed's ``export_logs``) as the ledger's events.

A row says only how an export stands now. :func:`plan_sync` turns it into the events
that make the ledger's export stand the same way: a new export is one ``Imported``
event holding the row's request, status and outcome (the ledger did not see the
moves that led there); a known one records only what changed since, each move as
its own event (a later status, a new expiry). What the ledger cannot record without
rewriting history (a request that changed, a status no legal move reaches, a file
that changed) is refused with the reason, and nothing of the row is recorded.

The source row's own ``id``, ``timestamp``, ``created_at`` and ``updated_at`` are
kept in the ``Imported`` event (``imported``; exports imported before that event
existed have them in their ``Requested`` event); the events' own timestamps are
when the ledger learned of them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from domain.exceptions import IllegalTransition, InvalidExport
from domain.exports.ids import is_export_id
from domain.exports.model import ExportLog
from domain.exports.rules import check_request
from domain.exports.values import Status

IMPORT_ACTOR = "import"
Outcome = Literal["created", "changed", "unchanged"]
_TEXT_FIELDS = ("id", "export_id", "user_id", "format", "status", "file_url", "error_message")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of the seed's 14-column ``export_logs`` table."""

    id: str | None
    export_id: str
    user_id: str
    timestamp: datetime
    format: str
    config: dict[str, Any]
    conversation_count: int
    file_size: int | None
    status: str
    file_url: str | None
    expires_at: datetime | None
    error_message: str | None
    created_at: datetime | None
    updated_at: datetime | None


SEED_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SourceRow))
"""The seed table's 14 columns, in its order."""


def plan_sync(
    export: ExportLog | None, row: SourceRow, actor: str = IMPORT_ACTOR
) -> tuple[Outcome, ExportLog]:
    """The export with the row's changes pending on it (none when ``unchanged``).

    Everything is checked before the first event, so a refused row adds none.
    """
    fmt, config = _check_row(row)
    target = _target(row)
    if export is None:
        export = ExportLog.imported_as(
            target,
            export_id=row.export_id,
            user_id=row.user_id,
            format=fmt,
            config=config,
            conversation_count=row.conversation_count,
            actor=actor,
            imported=source_times(row),
            file_size=row.file_size,
            file_url=row.file_url,
            expires_at=_utc(row.expires_at),
            error_message=row.error_message,
        )
        return "created", export
    _check_same_request(export, row, fmt, config)
    pending = len(export.pending_events)  # an earlier row of the same export may have left some
    if export.status == target:
        _check_same_outcome(export, row)
        if target == Status.COMPLETED and export.expires_at != _utc(row.expires_at):
            export.change_expiry(actor, _utc(row.expires_at))
    else:
        _move(export, target, row, actor)
    return ("changed" if len(export.pending_events) > pending else "unchanged"), export


def _check_row(row: SourceRow) -> tuple[str, dict[str, Any]]:
    if not isinstance(row.export_id, str) or not is_export_id(row.export_id):
        raise InvalidExport(f"export_id {row.export_id!r} is neither a UUID nor an exp_ id")
    if not isinstance(row.timestamp, datetime):
        raise InvalidExport(f"timestamp {row.timestamp!r} is not a time")
    if row.timestamp.tzinfo is None:
        raise InvalidExport("timestamp must carry a timezone")
    for name in _TEXT_FIELDS:
        value = getattr(row, name)
        if type(value) is str and "\x00" in value:
            raise InvalidExport(f"{name} must not contain NUL characters")
    return check_request(row.user_id, row.format, row.config, row.conversation_count)


def _target(row: SourceRow) -> Status:
    try:
        target = Status(row.status)
    except ValueError:
        target = Status.DELETED
    if target == Status.DELETED:
        raise InvalidExport(f"status {row.status!r} is not a status of the seed's table")
    return target


def _move(export: ExportLog, target: Status, row: SourceRow, actor: str) -> None:
    try:
        export.advance_to(
            target,
            actor,
            file_size=row.file_size,
            file_url=row.file_url,
            expires_at=_utc(row.expires_at),
            error_message=row.error_message,
        )
    except IllegalTransition as error:
        raise IllegalTransition(
            export.export_id,
            error.status,
            f"become {target}",
            "no legal lifecycle move leads there; the ledger never moves an export back",
        ) from None


def _check_same_request(
    export: ExportLog, row: SourceRow, fmt: str, config: dict[str, Any]
) -> None:
    request = {
        "user_id": (export.user_id, row.user_id),
        "format": (export.format, fmt),
        "config": (export.config, config),
        "conversation_count": (export.conversation_count, row.conversation_count),
    }
    changed = [name for name, (was, now) in request.items() if was != now]
    if changed:
        raise InvalidExport(
            f"{', '.join(changed)} of export {export.export_id!r} changed in the source; "
            "a request is recorded once and never rewritten"
        )
    if export.status == Status.DELETED:
        raise IllegalTransition(export.export_id, export.status, "sync with the source")


def _check_same_outcome(export: ExportLog, row: SourceRow) -> None:
    if export.status == Status.COMPLETED or export.status == Status.EXPIRED:
        fields = {
            "file_size": (export.file_size, row.file_size),
            "file_url": (export.file_url, row.file_url),
        }
    elif export.status == Status.FAILED:
        fields = {"error_message": (export.error_message, row.error_message)}
    else:
        return
    changed = [name for name, (was, now) in fields.items() if was != now]
    if changed:
        raise InvalidExport(
            f"{', '.join(changed)} of {export.status} export {export.export_id!r} changed in "
            "the source; the ledger records a file or a failure once"
        )


def source_times(row: SourceRow) -> dict[str, Any]:
    """The source row's own id and times, kept as data in the export's first event."""
    times = {"timestamp": row.timestamp, "created_at": row.created_at, "updated_at": row.updated_at}
    kept: dict[str, Any] = {"id": row.id}
    for name, moment in times.items():
        utc = _utc(moment)
        kept[name] = utc.isoformat() if utc is not None else None
    return kept


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidExport("timestamps must carry a timezone")
    return moment.astimezone(UTC)
