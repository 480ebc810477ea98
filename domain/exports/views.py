"""Read-only snapshots handed to the entry points, never the live aggregate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.exports.model import ExportLog


@dataclass(frozen=True, slots=True)
class ExportState:
    """An export as it stood at ``version``; ``position`` is the log position of
    that version's event when the caller knows it (after a command)."""

    export_id: str
    user_id: str
    format: str
    config: dict[str, Any]
    conversation_count: int
    status: str
    file_size: int | None
    file_url: str | None
    file_sha256: str | None
    row_count: int | None
    expires_at: datetime | None
    error_message: str | None
    download_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    last_actor: str
    deleted_by: str | None = None
    delete_reason: str | None = None
    position: int | None = None
    requested_at: datetime | None = None
    """When the export was requested: the source row's ``timestamp`` for an imported
    export, else when the ledger recorded the request (``created_at``)."""
    imported: dict[str, Any] | None = None
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Open legal holds by hold id: matter, reason, placed_by."""

    @classmethod
    def of(cls, export: ExportLog, position: int | None = None) -> ExportState:
        return cls(
            export_id=export.export_id,
            user_id=export.user_id,
            format=export.format,
            config=dict(export.config),
            conversation_count=export.conversation_count,
            status=str(export.status),
            file_size=export.file_size,
            file_url=export.file_url,
            file_sha256=export.file_sha256,
            row_count=export.row_count,
            expires_at=export.expires_at,
            error_message=export.error_message,
            download_count=export.download_count,
            created_at=export.created_on,
            updated_at=export.modified_on,
            version=export.version,
            last_actor=export.last_actor,
            deleted_by=export.deleted_by,
            delete_reason=export.delete_reason,
            position=position,
            requested_at=_requested_at(export),
            imported=export.imported,
            holds={k: dict(v) for k, v in export.open_holds().items()},
        )


def _requested_at(export: ExportLog) -> datetime:
    imported = export.imported
    if imported and imported.get("timestamp"):
        return datetime.fromisoformat(imported["timestamp"])
    return export.created_on


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored event of an export, as an auditor reads it."""

    position: int | None
    version: int
    type: str
    timestamp: datetime
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
