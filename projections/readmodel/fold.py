"""The export_logs projection: how each event changes an export's row.

This is the only projection logic. The live follower and the rebuild both
call :func:`apply`, so a rebuilt table can only differ from a followed one if
the stored events differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from domain.exceptions import ReadModelError
from domain.privacy import EXPORT_SEALED_FIELDS, erased_subject, shed_value
from domain.sync.rows import SEED_COLUMNS
from projections.readmodel.changes import Change, instant

Row = dict[str, Any]

COLUMNS = (*SEED_COLUMNS, "version", "position")
"""export_logs: the seed's 14 columns, so its clients read what they read before, then ours."""

VALIDITY = ("valid_from", "valid_from_time", "valid_to", "valid_to_time")
VERSION_COLUMNS = (*COLUMNS, *VALIDITY)
"""A row of export_log_versions: the row after one event, and when it held."""

RETENTION_APPLIED = "RetentionApplied"
SHED_COLUMNS = tuple(c for c in EXPORT_SEALED_FIELDS if c in COLUMNS)
"""The columns a retention sheds (config, file_url, error_message); user_id stays."""


def apply(row: Row | None, change: Change) -> Row | None:
    """The row after ``change``; None when the export has left the table."""
    if change.type == "Requested":
        return _requested(change)
    if change.type == "Imported":
        return _imported(change)
    if change.type == "Deleted":
        return None
    if change.type == RETENTION_APPLIED and row is None:
        return None  # a deleted export: only its versions are shed (fold_export)
    if row is None:
        raise ReadModelError(
            f"{change.type} event at position {change.position} for an export "
            f"with no row (aggregate {change.aggregate_id}); rebuild the read table"
        )
    if change.type == RETENTION_APPLIED:
        row = shed_row(row)
    update = _HANDLERS.get(change.type, _no_column_change)
    return {
        **row,
        **update(change.data),
        "updated_at": change.timestamp,
        "version": change.version,
        "position": change.position,
    }


def fold_by_export(changes: Iterable[Change]) -> Iterator[Row]:
    """One row per export still in the table, from changes grouped by export."""
    current = -1
    row: Row | None = None
    for change in changes:
        if change.aggregate_id.int != current:  # ints compare faster than UUIDs
            if row is not None:
                yield row
            current, row = change.aggregate_id.int, None
        row = apply(row, change)
    if row is not None:
        yield row


def fold_export(row: Row | None, changes: Sequence[Change]) -> tuple[Row | None, list[Row]]:
    """Fold one export's changes (in version order) onto its row.

    Returns the row after them and the versions they open: each is the row
    after one change, valid from that change's position and time until the
    export's next change (None: still current). A change that takes the
    export out of the table (Deleted) opens none; it only closes the one
    before. The version open before ``changes[0]`` (the one matching
    ``row``) is closed by the caller, at ``changes[0]``. RetentionApplied
    sheds every version before it too (those stored before ``changes``: the
    caller, projections/readmodel/store.py's ``shed_versions``).
    """
    versions: list[Row] = []
    for change in changes:
        if versions and versions[-1]["valid_to"] is None:
            versions[-1]["valid_to"] = change.position
            versions[-1]["valid_to_time"] = change.timestamp
        if change.type == RETENTION_APPLIED:
            versions = [shed_row(v) for v in versions]
        row = apply(row, change)
        if row is not None:
            versions.append(
                {
                    **row,
                    "valid_from": change.position,
                    "valid_from_time": change.timestamp,
                    "valid_to": None,
                    "valid_to_time": None,
                }
            )
    return row, versions


def _requested(change: Change) -> Row:
    data = change.data
    imported = data.get("imported")  # absent from events stored before imports existed
    return {
        "id": change.aggregate_id,
        "export_id": data["export_id"],
        "user_id": data["user_id"],
        "timestamp": imported["timestamp"] if imported else change.timestamp,
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


def _imported(change: Change) -> Row:
    """A row of another system's table, as it was imported: the request and the
    status and outcome it had reached."""
    data = change.data
    return {
        **_requested(change),
        "status": data["status"],
        "file_size": data["file_size"],
        "file_url": data["file_url"],
        "expires_at": instant(data["expires_at"]),
        "error_message": data["error_message"],
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


def _expiry_changed(data: dict[str, Any]) -> Row:
    return {"expires_at": instant(data["expires_at"])}


def _expired(_: dict[str, Any]) -> Row:
    return {"status": "expired"}


def shed_row(row: Row) -> Row:
    """``row`` with its export's own personal fields shed (a NULL stays NULL). An erased
    subject's row stays erased: the follower erases shed rows when ``Erased`` comes, and
    a rebuild, folding with the key gone, must end the same."""
    if erased_subject(row["user_id"]) is not None:
        return row
    return {**row, **{c: shed_value(c) for c in SHED_COLUMNS if row[c] is not None}}


def _no_column_change(_: dict[str, Any]) -> Row:
    """Downloaded, and event types added later that do not touch the columns."""
    return {}


_HANDLERS: dict[str, Callable[[dict[str, Any]], Row]] = {
    "ProcessingStarted": _processing_started,
    "Completed": _completed,
    "Failed": _failed,
    "Retried": _retried,
    "Expired": _expired,
    "ExpiryChanged": _expiry_changed,
    "Downloaded": _no_column_change,
}
