"""Stored events, decoded straight from the event store's JSON for projecting.

The projection reads the ``eventsourcing`` JSON transcoder's format with
orjson instead of rebuilding domain event objects: about twice as fast, and
the projection only needs names and values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

EXPORT_TOPIC_PREFIX = "domain.model:ExportLog."


@dataclass(frozen=True, slots=True)
class Change:
    """One stored event of an export."""

    position: int
    aggregate_id: UUID
    version: int
    type: str
    timestamp: datetime
    data: dict[str, Any]


def decode(
    position: int, aggregate_id: UUID, version: int, topic: str, state: bytes
) -> Change | None:
    """The change, or None for events of other aggregates (idempotency claims)."""
    if not topic.startswith(EXPORT_TOPIC_PREFIX):
        return None
    data = orjson.loads(state)
    for key, value in data.items():
        if isinstance(value, dict) and value.get("_type_") == "datetime_iso":
            data[key] = datetime.fromisoformat(value["_data_"])
    timestamp = data.pop("timestamp")
    return Change(
        position=position,
        aggregate_id=aggregate_id,
        version=version,
        type=topic[len(EXPORT_TOPIC_PREFIX) :],
        timestamp=timestamp,
        data=data,
    )
