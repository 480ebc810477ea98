"""Request bodies of the export commands: create, the lifecycle updates, a download.

The create takes the seed's ``CreateExportLogInput`` as it is (``user_id``, an initial
``status``, a config in either spelling); an update is one shape per target status,
or none (the seed's fields are all optional), told apart by ``status``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)

from api.http.schemas import (
    CONFIG_EXAMPLE,
    FILE_URL_EXAMPLE,
    NO_NUL,
    NOT_BLANK,
    SHA256,
    Count,
    Moment,
    NonNegative,
    RequestBody,
    example,
)
from domain.exceptions import InvalidExport
from domain.exports.config import ExportConfig, checked_config
from domain.exports.values import ExportFormat

JSON_VALUE_REF = "#/components/schemas/JsonValue"


def add_schemas(openapi: dict[str, Any]) -> None:
    """Put JsonValue, what a config's other keys may hold, in the document's components."""
    value = {"$ref": JSON_VALUE_REF}
    openapi.setdefault("components", {}).setdefault("schemas", {})["JsonValue"] = {
        "description": "Any JSON value without NUL in its text (PostgreSQL cannot store it).",
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": value},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": value},
        ],
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
        shape["additionalProperties"] = {"$ref": JSON_VALUE_REF}
        shape["propertyNames"] = {"pattern": NO_NUL}
        shape["not"] = {"anyOf": both}  # one spelling of each, not both
    schema["description"] = (
        "The client's configuration snapshot, stored and returned exactly as sent: the seed's "
        "keys are checked in either spelling (include_metadata or includeMetadata), other "
        "keys are kept (at most 64 KiB and 8 levels deep). A format in it (the seed's clients "
        "put one here) is kept as data, even when it differs from the request's format."
    )
    _forbid_nul(schema)
    return schema


def _forbid_nul(node: Any) -> None:
    """Document that text must not contain NUL (PostgreSQL cannot store it)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = NO_NUL
        for value in node.values():
            _forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_nul(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("config must be a JSON object")
    return value


def _document_config(schema: dict[str, Any]) -> None:
    schema.update(_config_schema())  # when the document is made, not at import


Config = Annotated[
    dict[str, Any],
    BeforeValidator(_plain_object),
    Field(default_factory=dict, json_schema_extra=_document_config),
]
CreateStatus = Literal["queued", "processing", "completed", "failed", "expired"]


class ExportCreate(RequestBody):
    """A new export request (the seed's CreateExportLogInput)."""

    model_config = example(format="jsonl", config=CONFIG_EXAMPLE, conversation_count=42)

    format: ExportFormat = Field(description="File format of the export.")
    config: Config
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
        """The seed's known keys, and config.format against format (domain/exports/config.py)."""
        fmt = info.data.get("format")
        try:
            # Kept as checked, so the command does not check it a second time.
            return checked_config(config, fmt.value if fmt is not None else None)
        except InvalidExport as error:
            raise ValueError(str(error)) from None


class ToProcessing(RequestBody):
    """Start processing a queued export."""

    model_config = example(status="processing")
    status: Literal["processing"]


class ToCompleted(RequestBody):
    """Complete a processing export with its file."""

    model_config = example(
        status="completed",
        file_size=1024,
        file_url=FILE_URL_EXAMPLE,
        expires_at="2030-01-01T00:00:00Z",
    )
    status: Literal["completed"]
    file_size: NonNegative = Field(description="Size of the file in bytes.")
    file_url: str = Field(min_length=1, max_length=2048, pattern=NO_NUL)
    expires_at: Moment | None = Field(default=None, description="When the file link expires.")
    file_sha256: str | None = Field(default=None, pattern=SHA256, description="Lowercase hex.")
    row_count: NonNegative | None = Field(default=None, description="Rows in the file.")


class ToFailed(RequestBody):
    """Record that a processing export failed."""

    model_config = example(status="failed", error_message="disk full")
    status: Literal["failed"]
    error_message: str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK)


class ToQueued(RequestBody):
    """Retry a failed export: it goes back to the queue."""

    model_config = example(status="queued")
    status: Literal["queued"]


class ToExpired(RequestBody):
    """Expire a completed export's file now."""

    model_config = example(status="expired")
    status: Literal["expired"]


class FieldsUpdate(RequestBody):
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


class DownloadCreate(RequestBody):
    """A download of a completed export's file."""

    model_config = example(file_sha256="ab" * 32)
    file_sha256: str | None = Field(
        default=None, pattern=SHA256, description="Checksum the downloader saw, if known."
    )
