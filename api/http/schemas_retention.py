"""Bodies of the retention routes (/api/retention)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http.schemas import RequestBody
from domain.retention.policies import DURATION_PATTERN, Policy, duration_text

Basis = Literal["expiry", "completion", "failure", "last-event"]
POLICY_EXAMPLE_ID = "ret_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"


class RetentionCreate(RequestBody):
    """A retention policy: shed an export's own personal fields ``after`` a duration
    counted ``from`` a moment of its life, optionally only for one format or status."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"after": "90d", "from": "expiry", "format": "csv"}]},
    )
    after: Annotated[str, Field(min_length=2, max_length=5, pattern=DURATION_PATTERN)]
    basis: Annotated[Basis, Field(alias="from")]
    format: Literal["json", "jsonl", "csv", "markdown"] | None = None
    status: Literal["queued", "processing", "completed", "failed", "expired", "deleted"] | None = (
        None
    )


class RetentionPublic(BaseModel):
    """A retention policy in force: what it sheds when, who set it and when."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"policy_id": POLICY_EXAMPLE_ID, "after": "90d", "from": "expiry",
                 "format": "csv", "status": None, "set_by": "admin-1",
                 "set_at": "2026-03-03T14:00:00Z"}
            ]
        },
    )  # fmt: skip
    policy_id: str
    after: str
    basis: Annotated[str, Field(alias="from")]
    format: str | None
    status: str | None
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, policy: Policy) -> RetentionPublic:
        return cls(
            policy_id=policy.policy_id, after=duration_text(policy.after),
            basis=str(policy.basis), format=policy.format, status=policy.status,
            set_by=policy.set_by, set_at=policy.set_at,
        )  # fmt: skip


class RetentionList(BaseModel):
    """The retention policies in force (none: exports are kept for good)."""

    policies: list[RetentionPublic]


class ExportRetention(BaseModel):
    """Which policy applies to an export and when it falls due, or which one shed it."""

    export_id: str
    shed_by: str | None
    policy: RetentionPublic | None
    due_at: datetime | None
