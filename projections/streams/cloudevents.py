"""A stored event as a CloudEvents 1.0 structured event (JSON), rendered on the way out.

Attributes::

    id              the log position (text; positions have gaps, order is position order)
    source          the log's origin (its C2SP checkpoint name)
    type            export.requested, export.completed, ..., subject.erased
    subject         the export id (the subject's pseudonym for subject.erased)
    time            the recorded time, as stored
    leafhash        the event's Merkle leaf hash (hex), computed from the stored bytes
    leafindex       once sealed: its leaf index ...
    checkpointsize  ... and the size of the first checkpoint that covers it

``data`` is pseudonymous: the event's clear fields, ``subject`` (the subject's pseudonym),
the actor (the pseudonym when the actor is the subject), and under ``withheld`` the
names of the personal fields (domain/privacy) the event carries but the rendering
leaves out. With a :class:`Personal` key source the personal fields are opened instead,
each under the key its sealed value names, except those whose key is gone (an erased
subject's, a shed export's), which stay withheld. Idempotency claims are not
rendered. Nothing rendered is stored: the renderer is pure (the keys are read by the
caller's key source).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args
from uuid import UUID

import orjson

from domain.exceptions import SubjectKeyMissing
from domain.privacy import (
    ACTOR,
    BY_EXPORT,
    PERSONAL_FIELDS,
    SEALED,
    SUBJECT,
    KeySource,
    open_export_value,
    open_value,
    pseudonym,
    sealed_by,
)
from domain.tlog import merkle

SPECVERSION = "1.0"
MEDIA_TYPE = "application/cloudevents+json"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
EXPORT_TOPIC = "domain.model:ExportLog."
ERASED_TOPIC = "domain.subjects:DataSubject.Erased"
_EXPORT_KINDS = {
    "Requested": "export.requested",
    "Imported": "export.imported",
    "ProcessingStarted": "export.processing_started",
    "Completed": "export.completed",
    "Failed": "export.failed",
    "Retried": "export.retried",
    "Downloaded": "export.downloaded",
    "ExpiryChanged": "export.expiry_changed",
    "Expired": "export.expired",
    "Deleted": "export.deleted",
    "HoldPlaced": "export.hold_placed",
    "HoldReleased": "export.hold_released",
    "RetentionApplied": "export.retention_applied",
}
TYPES: dict[str, str] = {
    **{EXPORT_TOPIC + kind: name for kind, name in _EXPORT_KINDS.items()},
    ERASED_TOPIC: "subject.erased",
}
"""The stored topic of every streamed event class, and its CloudEvent type."""
TOPICS: dict[str, str] = {name: topic for topic, name in TYPES.items()}
CloudEventType = Literal[
    "export.requested", "export.imported", "export.processing_started", "export.completed",
    "export.failed", "export.retried", "export.downloaded", "export.expiry_changed",
    "export.expired", "export.deleted", "export.hold_placed", "export.hold_released",
    "export.retention_applied", "subject.erased",
]  # fmt: skip
EVENT_TYPES: tuple[str, ...] = get_args(CloudEventType)
_META = ("timestamp", "originator_topic", "class_version", SUBJECT)
WITHHELD = "withheld"


class StoredRow(NamedTuple):
    """One stored event as the feed's query returns it (sql/queries/streams.sql)."""

    position: int
    aggregate_id: bytes
    version: int
    topic: str
    state: bytes
    export_id: str | None
    legacy_user_id: str | None
    """The clear user id of an export stored before fields were sealed (else None)."""
    leaf_index: int | None
    checkpoint_size: int | None


@dataclass(frozen=True, slots=True)
class Rendering:
    """How to render: the log's origin, the pseudonyms' secret (for events stored
    before pseudonyms, which carry none), and the keys when personal fields are opened."""

    source: str
    secret: bytes | None = None
    personal: KeySource | None = None


def render(row: StoredRow, how: Rendering) -> dict[str, Any]:
    """The structured CloudEvent of a stored event (a plain dict, for orjson)."""
    aggregate = bytes(row.aggregate_id)
    state = _loads(row.state)
    stamp = state.get("timestamp")
    kind = row.topic[len(EXPORT_TOPIC) :] if row.topic.startswith(EXPORT_TOPIC) else None
    if kind is None:
        subject = str(state.get(SUBJECT))
        data = {**_plain(state), SUBJECT: subject}
    else:
        subject = row.export_id or ""
        data = _export_data(kind, UUID(bytes=aggregate), state, row.legacy_user_id, how)
    event: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": str(row.position),
        "source": how.source,
        "type": TYPES[row.topic],
        "subject": subject,
        "time": _unwrap(stamp),
        "datacontenttype": "application/json",
        "leafhash": merkle.leaf_hash(
            row.position, aggregate, row.version, row.topic, bytes(row.state)
        ).hex(),
    }
    if row.leaf_index is not None and row.checkpoint_size is not None:
        event["leafindex"] = row.leaf_index
        event["checkpointsize"] = row.checkpoint_size
    if not subject:
        del event["subject"]
    event["data"] = data
    return event


def _export_data(
    kind: str, aggregate: UUID, state: dict[str, Any], legacy: str | None, how: Rendering
) -> dict[str, Any]:
    subject = state.get(SUBJECT)
    if subject is None and legacy is not None and how.secret is not None:
        subject = pseudonym(how.secret, legacy)
    personal = _personal_values(kind, aggregate, state, legacy, how)
    data = _plain(state)
    withheld = []
    for field in PERSONAL_FIELDS.get(kind, ()):
        if data.get(field) is None:
            continue
        if field in personal:
            data[field] = personal[field]
        else:
            del data[field]
            withheld.append(field)
    actor = state.get(ACTOR)
    if (type(actor) is dict and SEALED in actor) or (legacy is not None and actor == legacy):
        data[ACTOR] = personal.get(ACTOR, subject)
    if subject is not None:
        data[SUBJECT] = subject
    if withheld:
        data[WITHHELD] = withheld
    return data


def _personal_values(
    kind: str, aggregate: UUID, state: dict[str, Any], legacy: str | None, how: Rendering
) -> dict[str, Any]:
    """The opened personal fields (and the actor, when it is the subject), when the
    rendering opens them and the subject is not erased; else none."""
    keys = how.personal
    fields = (*PERSONAL_FIELDS.get(kind, ()), ACTOR)
    if keys is None:
        return {}
    subject = state.get(SUBJECT)
    if subject is None:  # stored in the clear, before fields were sealed
        if keys.erased_export(aggregate) is not None:
            return {}
        clear = {f: state[f] for f in fields if state.get(f) is not None}
        if clear.get(ACTOR) != legacy:
            clear.pop(ACTOR, None)
        return _plain(clear)
    sealed = {f: v for f in fields if type(v := state.get(f)) is dict and SEALED in v}
    opened: dict[str, Any] = {}
    for field, value in sealed.items():
        try:
            if sealed_by(value, f"export {aggregate}", field) == BY_EXPORT:
                own = keys.export_reading_key(aggregate, str(subject))
                if isinstance(own, bytes):  # else shed or erased: withheld
                    opened[field] = open_export_value(own, aggregate, field, value)
            elif (key := keys.reading_key(str(subject))) is not None:
                opened[field] = open_value(key, str(subject), field, value)
        except SubjectKeyMissing:  # a subject's or an export's key: withheld
            continue
    return opened


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    """The state's values without the library's type wrappers and the stored metadata."""
    return {k: _unwrap(v) for k, v in state.items() if k not in _META}


def _unwrap(value: Any) -> Any:
    if type(value) is dict and "_type_" in value and "_data_" in value:
        return value["_data_"]
    return value


def _loads(state: bytes) -> dict[str, Any]:
    decoded = orjson.loads(state)
    if type(decoded) is not dict:
        raise ValueError("a stored event's state is a JSON object")
    return decoded


def topics_of(types: Sequence[str] | None) -> list[str]:
    """The stored topics of some CloudEvent types (all streamed ones when None)."""
    if not types:
        return list(TYPES)
    unknown = [t for t in types if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; one of {', '.join(EVENT_TYPES)}")
    return [TOPICS[t] for t in types]
