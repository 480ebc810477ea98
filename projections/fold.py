"""The export_logs projection: how each event changes an export's row.

This is the only projection logic. The live follower and the rebuild both
call :func:`apply`, so a rebuilt table can only differ from a followed one if
the stored events differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.exceptions import ReadModelError
from projections.changes import Change, instant

Row = dict[str, Any]

COLUMNS = (
    "id",
    "export_id",
    "user_id",
    "timestamp",
    "format",
    "config",
    "conversation_count",
    "file_size",
    "status",
    "file_url",
    "expires_at",
    "error_message",
    "created_at",
    "updated_at",
    "version",
    "position",
)


def apply(row: Row | None, change: Change) -> Row | None:
    """The row after ``change``; None when the export has left the table."""
    if change.type == "Requested":
        return _requested(change)
    if change.type == "Deleted":
        return None
    if row is None:
        raise ReadModelError(
            f"{change.type} event at position {change.position} for an export "
            f"with no row (aggregate {change.aggregate_id}); rebuild the read table"
        )
    update = _HANDLERS.get(change.type, _no_column_change)
    return {
        **row,
        **update(change.data),
        "updated_at": change.timestamp,
        "version": change.version,
        "position": change.position,
    }


def _requested(change: Change) -> Row:
    data = change.data
    return {
        "id": change.aggregate_id,
        "export_id": data["export_id"],
        "user_id": data["user_id"],
        "timestamp": change.timestamp,
        "format": data["format"],
        "config": data["config"],
        "conversation_count": data["conversation_count"],
        "file_size": None,
        "status": "queued",
        "file_url": None,
        "expires_at": None,
        "error_message": None,
        "created_at": change.timestamp,
        "updated_at": change.timestamp,
        "version": change.version,
        "position": change.position,
    }


def _processing_started(_: dict[str, Any]) -> Row:
    return {"status": "processing"}


def _completed(data: dict[str, Any]) -> Row:
    return {
        "status": "completed",
        "file_size": data["file_size"],
        "file_url": data["file_url"],
        "expires_at": instant(data["expires_at"]),
        "error_message": None,
    }


def _failed(data: dict[str, Any]) -> Row:
    return {"status": "failed", "error_message": data["error_message"]}


def _retried(_: dict[str, Any]) -> Row:
    return {"status": "queued", "error_message": None}


def _expired(_: dict[str, Any]) -> Row:
    return {"status": "expired"}


def _no_column_change(_: dict[str, Any]) -> Row:
    """Downloaded, and event types added later that do not touch the columns."""
    return {}


_HANDLERS: dict[str, Callable[[dict[str, Any]], Row]] = {
    "ProcessingStarted": _processing_started,
    "Completed": _completed,
    "Failed": _failed,
    "Retried": _retried,
    "Expired": _expired,
    "Downloaded": _no_column_change,
}
