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
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from domain.config import ExportConfig, check_config
from domain.exceptions import InvalidExport
from domain.rules import MAX_CONVERSATIONS
from domain.values import ExportFormat

EXAMPLE_ID = "exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"
_URL = "https://storage.example.com/exports/file.jsonl"
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
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


def _example(**fields: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [fields]})


class _Request(BaseModel):
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

_CONFIG_EXAMPLE: dict[str, Any] = {
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
    "config": _CONFIG_EXAMPLE,
    "conversation_count": 42,
    **dict.fromkeys(("file_size", "file_url", "expires_at", "error_message")),
    "status": "queued",
    "created_at": "2026-03-03T14:00:00Z",
    "updated_at": "2026-03-03T14:00:00Z",
    "version": 1,
    "position": 17,
}


def _config_schema() -> dict[str, Any]:
    """The config's JSON Schema: the seed's known keys (either spelling), extras allowed."""
    schema = ExportConfig.model_json_schema(mode="validation")
    filters = schema.pop("$defs", {}).get("ExportFilters", {})
    props = schema["properties"]
    del props["format"]  # must equal the request's format: no schema can say so
    filters = {**filters, "title": "Filters"}
    props["filters"] = {"anyOf": [filters, {"type": "null"}]}
    # Bounded by the config's size (64 KiB) before its count: 10,000 ids would not fit.
    props["conversation_ids"] = {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
        "description": "The selected conversations (at most 10,000, within the 64 KiB bound).",
    }
    for shape in (schema, filters):
        both = []
        for name, field in list(shape.get("properties", {}).items()):
            camel = _camel(name)
            if camel != name:
                shape["properties"][camel] = {**field, "description": f"Same as {name}."}
                both.append({"required": [name, camel]})
        shape["additionalProperties"] = True
        shape["not"] = {"anyOf": both}  # one spelling of each, not both
    schema["description"] = (
        "The client's configuration snapshot, stored and returned exactly as sent: the seed's "
        "keys are checked in either spelling (include_metadata or includeMetadata), other "
        "keys are kept (at most 64 KiB and 8 levels deep). A format (the seed's clients put "
        "one here) must agree with the request's format."
    )
    return schema


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("config must be a JSON object")
    return value


Config = Annotated[dict[str, Any], BeforeValidator(_plain_object), WithJsonSchema(_config_schema())]
CreateStatus = Literal["queued", "processing", "completed", "failed", "expired"]


class ExportCreate(_Request):
    """A new export request (the seed's CreateExportLogInput)."""

    model_config = _example(format="jsonl", config=_CONFIG_EXAMPLE, conversation_count=42)

    format: ExportFormat = Field(description="File format of the export.")
    config: Config = Field(default_factory=dict)
    conversation_count: Count = Field(description="How many conversations the export holds.")
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="Whose export: the caller's own id (the default), or, for an admin, "
        "anyone's (the events record the admin as who requested it).",
    )
    status: CreateStatus | None = Field(
        default=None,
        description="Start past queued: every move of the lifecycle up to it is recorded "
        "in the same append (a completed export without a file, a failed one without "
        "a message, as the seed's table allowed).",
    )

    @field_validator("config")
    @classmethod
    def _config_checks_out(cls, config: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The seed's known keys, and config.format against format (domain/config.py)."""
        fmt = info.data.get("format")
        try:
            check_config(config, fmt.value if fmt is not None else None)
        except InvalidExport as error:
            raise ValueError(str(error)) from None
        return config


class ToProcessing(_Request):
    """Start processing a queued export."""

    model_config = _example(status="processing")
    status: Literal["processing"]


class ToCompleted(_Request):
    """Complete a processing export with its file."""

    model_config = _example(
        status="completed", file_size=1024, file_url=_URL, expires_at="2030-01-01T00:00:00Z"
    )
    status: Literal["completed"]
    file_size: NonNegative = Field(description="Size of the file in bytes.")
    file_url: str = Field(min_length=1, max_length=2048, pattern=NO_NUL)
    expires_at: Moment | None = Field(default=None, description="When the file link expires.")
    file_sha256: str | None = Field(default=None, pattern=SHA256, description="Lowercase hex.")
    row_count: NonNegative | None = Field(default=None, description="Rows in the file.")


class ToFailed(_Request):
    """Record that a processing export failed."""

    model_config = _example(status="failed", error_message="disk full")
    status: Literal["failed"]
    error_message: str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK)


class ToQueued(_Request):
    """Retry a failed export: it goes back to the queue."""

    model_config = _example(status="queued")
    status: Literal["queued"]


class ToExpired(_Request):
    """Expire a completed export's file now."""

    model_config = _example(status="expired")
    status: Literal["expired"]


class FieldsUpdate(_Request):
    """An update without a status (the seed's fields are all optional): only ``expires_at``
    of a completed export may change this way; file and error fields are recorded by
    the move that sets them, and a request carrying them without a status is a 409."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"expires_at": "2030-01-01T00:00:00Z"}], "minProperties": 1}
    )
    expires_at: Moment | None = Field(default=None, description="When the file link expires.")
    file_size: NonNegative | None = None
    file_url: str | None = Field(default=None, max_length=2048, pattern=NO_NUL)
    error_message: str | None = Field(default=None, max_length=10_000, pattern=NO_NUL)


def _update_kind(value: Any) -> str | None:
    status = value.get("status") if isinstance(value, dict) else getattr(value, "status", None)
    if status is None:
        return "fields"
    return status if isinstance(status, str) else None


ExportUpdate = Annotated[
    Annotated[ToProcessing, Tag("processing")]
    | Annotated[ToCompleted, Tag("completed")]
    | Annotated[ToFailed, Tag("failed")]
    | Annotated[ToQueued, Tag("queued")]
    | Annotated[ToExpired, Tag("expired")]
    | Annotated[FieldsUpdate, Tag("fields")],
    Discriminator(
        _update_kind,
        custom_error_type="invalid_status",
        custom_error_message="status must be processing, completed, failed, queued or "
        "expired, or absent to change only expires_at",
    ),
]
"""The seed's update: one shape per target status (each runs one lifecycle command),
or no status at all."""


class DownloadCreate(_Request):
    """A download of a completed export's file."""

    model_config = _example(file_sha256="ab" * 32)
    file_sha256: str | None = Field(
        default=None, pattern=SHA256, description="Checksum the downloader saw, if known."
    )


class ExportPublic(BaseModel):
    """An export as the read table holds it (the seed's export_logs row)."""

    model_config = _example(**_EXPORT_EXAMPLE)
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

    model_config = _example(
        **_EXPORT_EXAMPLE, file_sha256=None, row_count=None, download_count=0, last_actor="user-123"
    )
    status: AnyStatus  # type: ignore[assignment]
    file_sha256: str | None
    row_count: int | None
    download_count: int
    last_actor: str = Field(description="Who ran the latest command.")


class ExportList(BaseModel):
    """One page of exports, newest first."""

    model_config = _example(
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
    model_config = _example(expired=3)
    expired: int = Field(ge=0, description="Exports expired by this run.")


class HistoryEntryPublic(BaseModel):
    """One stored event of an export."""

    model_config = _example(
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
