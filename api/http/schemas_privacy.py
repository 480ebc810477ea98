"""Bodies of the legal-hold and data-subject routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from api.http.schemas import NO_NUL, NOT_BLANK, RequestBody, example

HOLD_EXAMPLE_ID = "hold_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"


class HoldCreate(RequestBody):
    """A legal hold: the matter it is for, and why."""

    model_config = example(matter="ACME v. Example 2026-114", reason="litigation hold notice")
    matter: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
    reason: Annotated[str | None, Field(max_length=2000, pattern=NO_NUL)] = None


class HoldPublic(BaseModel):
    """An open legal hold of an export."""

    model_config = example(
        hold_id=HOLD_EXAMPLE_ID, export_id="exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C",
        matter="ACME v. Example 2026-114", reason="litigation hold notice", placed_by="admin-1",
    )  # fmt: skip
    hold_id: str
    export_id: str
    matter: str
    reason: str | None
    placed_by: str


class HoldList(BaseModel):
    """The open legal holds of an export."""

    holds: list[HoldPublic]


class ErasureCreate(RequestBody):
    """Why the subject is erased (no personal data: it is stored in the clear)."""

    model_config = example(reason="art. 17 request 2026-0042")
    reason: Annotated[str | None, Field(max_length=2000, pattern=NO_NUL)] = None


class ErasurePublic(BaseModel):
    """An erasure of a data subject: their key is destroyed."""

    model_config = example(
        subject="5d899b97cdfad6a762e228880078ecb0", erased_now=True, erased_by="admin-1",
        reason="art. 17 request 2026-0042", export_ids=["exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C"],
        detail="subject erased: 1 export",
    )  # fmt: skip
    subject: str = Field(description="The subject's pseudonym (no personal data).")
    erased_now: bool = Field(description="False: the subject had been erased before.")
    erased_by: str
    reason: str | None
    export_ids: list[str]
    detail: str
