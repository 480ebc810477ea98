"""Request and response bodies of the HTTP API (snake_case, the seed's field names)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from domain.exports.rules import MAX_CONVERSATIONS
from domain.exports.values import ExportFormat

EXAMPLE_ID = "exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"
FILE_URL_EXAMPLE = "https://storage.example.com/exports/file.jsonl"
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00\x85\uFEFF][^\x00]*$"
"""Some character that is not blank. ``\\s`` differs between the server's regex engine
(Unicode White_Space: with U+0085, without U+FEFF) and the document's (ECMAScript: the
reverse); both are named, so the two agree."""
SHA256 = r"^[0-9a-f]{64}$"
MAX_INTEGER = 2**53 - 1  # exact in every JSON parser
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DIGITS = re.compile(r"^-?[0-9]{1,20}$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, lone surrogates
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def utc(when: datetime) -> datetime:
    """The same instant in UTC, clamped to the years 1 to 9999."""
    offset = when.utcoffset() or timedelta(0)
    naive = when.replace(tzinfo=None)
    if offset > timedelta(0) and naive - datetime.min < offset:
        return _EARLIEST
    if offset < timedelta(0) and datetime.max - naive < -offset:
        return _LATEST
    return when.astimezone(UTC)


def storable(value: Any) -> Any:
    """Refuse text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates),
    anywhere in a request body, before any of it reaches the ledger."""
    if isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    elif isinstance(value, list):
        for item in value:
            storable(item)
    elif isinstance(value, str) and _UNSTORABLE.search(value):
        raise ValueError("text must be valid Unicode without NUL characters")
    return value


def example(**fields: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [fields]})


class RequestBody(BaseModel):
    """A request body: unknown fields and unstorable text are refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return storable(data)


def moment(value: Any) -> datetime:
    """An RFC 3339 timestamp with an offset (no numbers, no bare dates), in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return utc(value)
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-03-03T14:00:00Z")
    return utc(datetime.fromisoformat(value.upper()))


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


def _digits(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.match(value):
        raise ValueError("must be a whole number")
    return value


# Query and header integers: digits only, no "1.0".
Position = Annotated[int, Field(ge=0, le=MAX_INTEGER), BeforeValidator(_digits)]
PageNumber = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_digits)]
PageSize = Annotated[int, Field(ge=1, le=200), BeforeValidator(_digits)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_digits)]

# Integers as JSON Schema has them: 42 or 42.0, never "42" or true. (The bounds come
# before the validator, or the document would lose them.)
Count = Annotated[int, Field(ge=0, le=MAX_CONVERSATIONS), BeforeValidator(_json_integer)]
NonNegative = Annotated[int, Field(ge=0, le=MAX_INTEGER), BeforeValidator(_json_integer)]

Moment = Annotated[
    datetime,
    PlainValidator(moment),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-03-03T14:00:00Z"}),
]
"""An RFC 3339 timestamp with an offset; normalised to UTC."""

ReadStatus = Literal["queued", "processing", "completed", "failed", "expired"]
AnyStatus = Literal["queued", "processing", "completed", "failed", "expired", "deleted"]

CONFIG_EXAMPLE: dict[str, Any] = {
    "scope": "filtered",
    "include_metadata": True,
    "filters": {"tiers": ["template"], "quality_score_min": 7.5},
}
_EXPORT_EXAMPLE: dict[str, Any] = {
    "id": "0b5c0a7e-4f55-5d0e-9d42-6a1f0c1d2e3f",
    "export_id": EXAMPLE_ID,
    "user_id": "user-123",
    "timestamp": "2026-03-03T14:00:00Z",
    "format": "jsonl",
    "config": CONFIG_EXAMPLE,
    "conversation_count": 42,
    **dict.fromkeys(("file_size", "file_url", "expires_at", "error_message")),
    "status": "queued",
    "created_at": "2026-03-03T14:00:00Z",
    "updated_at": "2026-03-03T14:00:00Z",
    "version": 1,
    "position": 17,
}


class ExportPublic(BaseModel):
    """An export as the read table holds it (the seed's export_logs row)."""

    model_config = example(**_EXPORT_EXAMPLE)
    id: UUID = Field(description="Internal id (derived from export_id).")
    export_id: str
    user_id: str
    timestamp: datetime = Field(description="When the export was requested.")
    format: ExportFormat
    config: dict[str, Any]
    conversation_count: int
    file_size: int | None
    status: ReadStatus
    file_url: str | None
    expires_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Number of events the export has had.")
    position: int | None = Field(description="Log position of the export's latest event.")


class ExportDetail(ExportPublic):
    """An export as its events tell it: after a command, or at a past moment."""

    model_config = example(
        **_EXPORT_EXAMPLE, file_sha256=None, row_count=None, download_count=0, last_actor="user-123"
    )
    status: AnyStatus  # type: ignore[assignment]
    file_sha256: str | None
    row_count: int | None
    download_count: int
    last_actor: str = Field(description="Who ran the latest command.")


class ExportList(BaseModel):
    """One page of exports, newest first."""

    model_config = example(
        logs=[_EXPORT_EXAMPLE], total=1, total_exact=True, page=1, limit=25, next_cursor=None
    )
    logs: list[ExportPublic]
    total: int = Field(
        description=(
            "Exports matching the filters, on every page, counted up to 10,000: when more "
            "match, this is 10,000 and total_exact is false."
        )
    )
    total_exact: bool = Field(description="False when total stopped counting at 10,000.")
    page: int
    limit: int
    next_cursor: str | None = Field(description="The next page's 'cursor'; null on the last.")


class ExpireResult(BaseModel):
    model_config = example(expired=3, on_hold=1)
    expired: int = Field(ge=0, description="Exports expired by this run.")
    on_hold: int = Field(
        default=0, ge=0, description="Due exports left unexpired because a legal hold is open."
    )


class HistoryEntryPublic(BaseModel):
    """One stored event of an export."""

    model_config = example(
        position=17,
        version=1,
        type="Requested",
        timestamp="2026-03-03T14:00:00Z",
        actor="user-123",
        data={"export_id": EXAMPLE_ID, "user_id": "user-123", "format": "jsonl"},
    )
    position: int | None
    version: int
    type: str
    timestamp: datetime
    actor: str
    data: dict[str, Any]
