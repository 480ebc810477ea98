"""Bodies of /api/sinks (webhook sinks; projections/sinks/)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from api.http.schemas import MAX_INTEGER, NO_NUL, RequestBody, example
from projections.streams.cloudevents import CloudEventType

SINK_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class SinkCreate(RequestBody):
    """A webhook sink: where to POST the events, and which."""

    model_config = example(name="siem", url="https://siem.example.com/hooks/ledger",
                           types=["export.downloaded"], personal_data=False)  # fmt: skip
    name: Annotated[str, Field(pattern=SINK_NAME, description="The sink's name.")]
    url: Annotated[
        str,
        Field(min_length=1, max_length=2000, pattern=NO_NUL,
              description="https:// to a host of EXPORT_LEDGER_SINK_HOSTS, or http:// to "
              "loopback."),
    ]  # fmt: skip
    types: Annotated[list[CloudEventType], Field(default_factory=list, max_length=13)]
    user_id: Annotated[str | None, Field(min_length=1, max_length=200, pattern=NO_NUL)] = None
    personal_data: Annotated[
        bool,
        Field(description="Send personal fields opened (never an erased subject's). What is "
              "sent out leaves the reach of later erasure."),
    ] = False  # fmt: skip


class SinkReplay(RequestBody):
    model_config = example(**{"from": 1})
    start: Annotated[int, Field(alias="from", ge=1, le=MAX_INTEGER)]


class SinkPublic(BaseModel):
    """A sink and where its delivery stands."""

    name: str
    url: str
    types: list[str]
    user_id: str | None
    personal: bool
    state: str = Field(description="active, paused or failing")
    cursor: int = Field(description="The last position the receiver acknowledged.")
    lag: int = Field(description="Positions after the cursor up to the log's head.")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    lease_holder: str | None
    lease_until: datetime | None
    batch_first: int | None
    batch_last: int | None


class SinkCreated(SinkPublic):
    secret: str = Field(description="The Standard Webhooks secret (whsec_...): shown this once.")


class SinkList(BaseModel):
    sinks: list[SinkPublic]
