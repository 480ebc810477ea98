"""Value types of an export: its format, status and configuration."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

StrictFloat = Annotated[float, Strict()]


class ExportFormat(StrEnum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    MARKDOWN = "markdown"


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    DELETED = "deleted"


class ExportFilters(BaseModel):
    """Which conversations a ``filtered`` export selects (the seed's filter panel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: list[str] | None = Field(default=None, max_length=20)
    statuses: list[str] | None = Field(default=None, max_length=20)
    quality_score_min: StrictFloat | None = Field(default=None, ge=0, le=10)
    quality_score_max: StrictFloat | None = Field(default=None, ge=0, le=10)
    date_from: datetime | None = None
    date_to: datetime | None = None
    search_query: str | None = Field(default=None, max_length=500)


class ExportConfig(BaseModel):
    """The seed's export configuration: scope, what to include, and filters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Literal["selected", "filtered", "all"] = "all"
    include_metadata: Annotated[bool, Strict()] = True
    include_quality_scores: Annotated[bool, Strict()] = True
    include_timestamps: Annotated[bool, Strict()] = True
    include_approval_history: Annotated[bool, Strict()] = False
    include_parent_references: Annotated[bool, Strict()] = False
    include_full_content: Annotated[bool, Strict()] = True
    conversation_ids: list[str] | None = Field(default=None, max_length=10_000)
    filters: ExportFilters | None = None
