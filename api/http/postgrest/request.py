"""What a PostgREST request asks besides its filter: Prefer, Accept, profiles, and its body
typed column by column, refused with the codes PostgreSQL would give the seed's table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.datastructures import Headers

from api.http.postgrest import errors
from domain.exports.ids import is_export_id
from domain.exports.values import ExportFormat, Status
from domain.ledger.rows import RowValues
from projections.reads.rest_query import COLUMN_TYPES

OBJECT_MEDIA = "application/vnd.pgrst.object+json"
PATCHABLE = frozenset({"status", "file_size", "file_url", "expires_at", "error_message"})
IGNORED = frozenset({"updated_at"})
"""Accepted and replaced by the ledger's own time, as the seed's trigger replaced it."""
IMMUTABLE = frozenset(
    {"id", "export_id", "timestamp", "format", "config", "conversation_count", "created_at"}
)
_STATUSES = frozenset(s.value for s in Status if s != Status.DELETED)
_FORMATS = frozenset(f.value for f in ExportFormat)


@dataclass(frozen=True, slots=True)
class Preferences:
    returning: str = "minimal"
    """representation, minimal or headers-only."""
    count: str | None = None
    """exact, planned or estimated (all counted exactly here)."""


def preferences(headers: Headers) -> Preferences:
    returning, count = "minimal", None
    for header in headers.getlist("prefer"):
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name == "return" and value in ("representation", "minimal", "headers-only"):
                returning = value
            elif name == "count" and value in ("exact", "planned", "estimated"):
                count = value
    return Preferences(returning, count)


def wants_object(headers: Headers) -> bool:
    """``.single()``: the object media type in Accept."""
    return OBJECT_MEDIA in headers.get("accept", "")


def check_profile(headers: Headers, method: str) -> None:
    name = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    schema = headers.get(name)
    if schema is not None and schema != "public":
        raise errors.unknown_schema(schema)


def json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as error:
        raise errors.invalid_body(str(error)) from None


def check_columns(row: dict[str, Any]) -> None:
    for name in row:
        if name not in COLUMN_TYPES:
            raise errors.unknown_body_column(name)


def moment(column: str, value: Any) -> datetime | None:
    """A timestamptz value: ISO 8601 text; one without an offset is UTC, as the
    database's session time zone makes it."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise errors.PostgrestError(
        400, "22007", f'invalid input syntax for type timestamp with time zone: "{value}"',
        f"column {column}",
    )  # fmt: skip


def integer(column: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise errors.wrong_type(column, COLUMN_TYPES[column], value)
    if value < 0:
        raise errors.check_violation(
            f'new row for relation "export_logs" violates check constraint '
            f'"export_logs_{column}_check": {column} must not be negative'
        )
    return value


def text(column: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise errors.wrong_type(column, "text", value)


def choice(column: str, value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise errors.check_violation(
            f'new row for relation "export_logs" violates check constraint '
            f'"export_logs_{column}_check": {column} must be one of '
            f"{', '.join(sorted(allowed))}, not {value!r}"
        )
    return value


def row_values(row: dict[str, Any]) -> RowValues:
    """The status and outcome columns a row gives."""
    status = row.get("status")
    if "status" in row and status is None:
        raise errors.not_null("status")
    return RowValues(
        given=frozenset(row) & PATCHABLE,
        status=choice("status", status, _STATUSES) if status is not None else None,
        file_size=integer("file_size", row.get("file_size")),
        file_url=text("file_url", row.get("file_url")),
        expires_at=moment("expires_at", row.get("expires_at")),
        error_message=text("error_message", row.get("error_message")),
    )


@dataclass(frozen=True, slots=True)
class NewRow:
    export_id: str
    user_id: str
    format: str
    config: dict[str, Any]
    conversation_count: int
    requested_at: datetime | None
    values: RowValues


def new_row(row: Any) -> NewRow:
    """An inserted row, typed; ``id``, the ledger's own key, cannot be given."""
    if not isinstance(row, dict):
        raise errors.invalid_body("each row must be a JSON object")
    check_columns(row)
    if "id" in row:
        raise errors.PostgrestError(
            400, errors.IMMUTABLE_COLUMN,
            "column id is the ledger's own key (derived from export_id): it cannot be given",
        )  # fmt: skip
    for required in ("user_id", "format", "config", "conversation_count"):
        if row.get(required) is None:
            raise errors.not_null(required)
    export_id = row.get("export_id")
    if export_id is None:
        export_id = str(uuid.uuid4())
    elif not isinstance(export_id, str) or not is_export_id(export_id.lower()):
        raise errors.wrong_type("export_id", "uuid", export_id)
    user_id = text("user_id", row["user_id"])
    count = integer("conversation_count", row["conversation_count"])
    assert user_id is not None and count is not None
    return NewRow(
        export_id=export_id.lower() if not export_id.startswith("exp_") else export_id,
        user_id=user_id,
        format=choice("format", row["format"], _FORMATS),
        config=row["config"],
        conversation_count=count,
        requested_at=moment("timestamp", row.get("timestamp")),
        values=row_values(row),
    )


def patch_row(row: Any) -> dict[str, Any]:
    """A PATCH body: one object of columns the ledger may change (immutable ones 400)."""
    if not isinstance(row, dict):
        raise errors.invalid_body("a PATCH body is one JSON object")
    check_columns(row)
    for name in row:
        if name in IMMUTABLE:
            raise errors.PostgrestError(
                400, errors.IMMUTABLE_COLUMN,
                f"column {name} cannot change: the ledger records it once, with the request",
                hint="a PATCH may change status, file_size, file_url, expires_at and "
                "error_message",
            )  # fmt: skip
    return row
