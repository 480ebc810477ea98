"""The CloudEvent types: one per streamed event class, named as the issue of the feed says."""

from __future__ import annotations

import pytest

from projections.audit.export import EXPORT_EVENTS
from projections.streams.cloudevents import EVENT_TYPES, TOPICS, TYPES, topics_of


def test_every_export_event_class_and_erasure_has_one_type() -> None:
    assert set(EVENT_TYPES) == set(TOPICS) and len(TYPES) == len(TOPICS)
    export_kinds = {topic.rsplit(".", 1)[-1] for topic in TYPES if "ExportLog" in topic}
    assert set(EXPORT_EVENTS) <= export_kinds
    assert TYPES["domain.subjects:DataSubject.Erased"] == "subject.erased"
    assert not any("Claimed" in topic for topic in TYPES)  # idempotency claims stay home


def test_topics_of_types() -> None:
    assert topics_of(None) == list(TYPES)
    assert topics_of(["export.failed"]) == ["domain.model:ExportLog.Failed"]
    with pytest.raises(ValueError, match="unknown event type"):
        topics_of(["export.claimed"])
