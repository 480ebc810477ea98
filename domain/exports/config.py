"""An export's configuration: the client's snapshot, checked and then kept exactly as sent.

The seed's clients send ``ExportConfig`` in camelCase (``includeMetadata``, and
``format`` inside it); the ledger's own clients send snake_case. Both spellings of
the known keys are checked (types, allowed values); unknown keys are kept, within
bounds on size and depth, and nothing is renamed or filled in: what a client sent
is what the events record and every read returns. Events stored before this kept
a normalised copy (every known key, snake_case); they are read as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from typing import Annotated, Any, Literal

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, Strict, ValidationError

from domain.exceptions import InvalidExport

StrictFloat = Annotated[float, Strict()]
StrictBool = Annotated[bool, Strict()]
MAX_CONFIG_BYTES = 64 * 1024
MAX_CONFIG_DEPTH = 8
_SCALARS = (str, int, float, type(None))


def _either(snake: str, **bounds: Any) -> Any:
    """A field known under its snake_case name and the seed's camelCase one."""
    head, *rest = snake.split("_")
    camel = head + "".join(part.title() for part in rest)
    return Field(default=None, validation_alias=AliasChoices(snake, camel), **bounds)


class ExportFilters(BaseModel):
    """Which conversations a ``filtered`` export selects (the seed's filter panel)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    tiers: list[str] | None = Field(default=None, max_length=20)
    statuses: list[str] | None = Field(default=None, max_length=20)
    quality_score_min: StrictFloat | None = _either("quality_score_min", ge=0, le=10)
    quality_score_max: StrictFloat | None = _either("quality_score_max", ge=0, le=10)
    date_from: datetime | None = _either("date_from")
    date_to: datetime | None = _either("date_to")
    search_query: str | None = _either("search_query", max_length=500)


class ExportConfig(BaseModel):
    """The seed's export configuration: scope, format, what to include, and filters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    scope: Literal["selected", "filtered", "all"] | None = None
    format: Literal["json", "jsonl", "csv", "markdown"] | None = None
    include_metadata: StrictBool | None = _either("include_metadata")
    include_quality_scores: StrictBool | None = _either("include_quality_scores")
    include_timestamps: StrictBool | None = _either("include_timestamps")
    include_approval_history: StrictBool | None = _either("include_approval_history")
    include_parent_references: StrictBool | None = _either("include_parent_references")
    include_full_content: StrictBool | None = _either("include_full_content")
    conversation_ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None,
        max_length=10_000,
        validation_alias=AliasChoices("conversation_ids", "conversationIds"),
    )
    filters: ExportFilters | None = None


DEFAULTS: dict[str, Any] = {
    "scope": "all",
    "include_metadata": True,
    "include_quality_scores": True,
    "include_timestamps": True,
    "include_approval_history": False,
    "include_parent_references": False,
    "include_full_content": True,
}
"""What a config means when it leaves a known key out."""


def normalised(config: Mapping[str, Any]) -> dict[str, Any]:
    """A checked config's meaning: defaults filled in, known keys snake_case, extras
    as they are. Two requests are the same (an idempotent retry) when these are equal."""
    checked = ExportConfig.model_validate_json(json.dumps(config), strict=True)
    return {**DEFAULTS, **checked.model_dump(mode="json", exclude_none=True)}


class CheckedConfig(dict[str, Any]):
    """A config that :func:`check_config` accepted for ``fmt``, with the JSON it
    checked: checking it again for the same format is free (the HTTP body's
    validation checks it, then the command would again), and gives a copy of what
    was checked, whatever was done to this dict since."""

    def __init__(self, text: str, fmt: str | None) -> None:
        super().__init__(json.loads(text))
        self.text = text
        self.fmt = fmt


def checked_config(config: Mapping[str, Any] | None, fmt: str | None) -> CheckedConfig:
    """:func:`check_config`, keeping the result as a :class:`CheckedConfig`."""
    if isinstance(config, CheckedConfig) and config.fmt == fmt:
        return config
    return CheckedConfig(_checked_text(config) if config is not None else "{}", fmt)


def check_config(config: Mapping[str, Any] | None, fmt: str | None) -> dict[str, Any]:
    """The config as sent (a plain copy), once its known keys check out; else InvalidExport.
    A ``format`` in it is data, as the seed stores it: it may differ from ``fmt``, the
    export's own format."""
    if config is None:
        return {}
    text = config.text if isinstance(config, CheckedConfig) and config.fmt == fmt else None
    result: dict[str, Any] = json.loads(text or _checked_text(config))
    return result


def _checked_text(config: Mapping[str, Any]) -> str:
    """The config's JSON, once its known keys check out (see :func:`check_config`)."""
    if not isinstance(config, Mapping):
        raise InvalidExport("config must be a JSON object")
    text = _config_json(config)
    if len(text) <= _CACHED_TEXT:
        _check_cached(text)
    else:
        _check_text(text)
    return text


_CACHED_TEXT = 4096
"""Configs up to this length have their checks remembered: a client sends the same
few configs again and again (an import's table holds thousands of each)."""


def _config_json(config: Mapping[str, Any]) -> str:
    try:
        return json.dumps(config, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise InvalidExport(f"config nests deeper than {MAX_CONFIG_DEPTH} levels") from None
    except (TypeError, ValueError) as error:
        raise InvalidExport(f"config is not plain JSON: {error}") from None


@lru_cache(maxsize=1024)
def _check_cached(text: str) -> None:
    """:func:`_check_text`, remembered (a refused config raises again each time)."""
    _check_text(text)


def _check_text(text: str) -> None:
    """Every check of a config, on the JSON it was sent as."""
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise InvalidExport(f"config is larger than {MAX_CONFIG_BYTES} bytes")
    config = json.loads(text)
    if _depth(config) > MAX_CONFIG_DEPTH:
        raise InvalidExport(f"config nests deeper than {MAX_CONFIG_DEPTH} levels")
    if "\\u0000" in text and has_nul(config):  # JSON always escapes NUL
        raise InvalidExport("config must not contain NUL characters")
    try:
        orjson.dumps(config)  # how it is sealed (domain/privacy)
    except orjson.JSONEncodeError:
        raise InvalidExport("config: integers must fit in 64 bits") from None
    _check_one_spelling(config, ExportConfig, "config")
    filters = config.get("filters")
    if isinstance(filters, Mapping):
        _check_one_spelling(filters, ExportFilters, "config.filters")
    try:
        checked = ExportConfig.model_validate_json(text, strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, ("config", *first["loc"])))
        raise InvalidExport(f"{where}: {first['msg']}") from None
    for name in ("date_from", "date_to"):
        moment = getattr(checked.filters, name, None) if checked.filters else None
        if moment is not None and moment.tzinfo is None:
            raise InvalidExport(f"config.filters.{name} must carry a timezone offset")


def has_nul(value: Any) -> bool:
    """Whether a NUL character is in ``value`` or any string, key or item inside it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def _depth(value: Any, room: int = MAX_CONFIG_DEPTH + 1) -> int:
    """Levels of objects and arrays in ``value``, counted no further than ``room``."""
    if isinstance(value, _SCALARS):  # most values: answered without the Mapping ABC's check
        return 0
    if not isinstance(value, Mapping | list | tuple):
        return 0
    if room <= 1:
        return 1
    children = value.values() if isinstance(value, Mapping) else value
    deepest = 0
    for child in children:
        if not isinstance(child, _SCALARS):
            deepest = max(deepest, _depth(child, room - 1))
    return 1 + deepest


def _check_one_spelling(given: Mapping[str, Any], model: type[BaseModel], where: str) -> None:
    for name, choices in _spellings(model):
        spellings = [choice for choice in choices if choice in given]
        if len(spellings) > 1:
            raise InvalidExport(f"{where}: give {' or '.join(spellings)}, not both ({name})")


@cache
def _spellings(model: type[BaseModel]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each field known under several names, with its names."""
    found = []
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            found.append((name, tuple(str(choice) for choice in alias.choices)))
    return tuple(found)
