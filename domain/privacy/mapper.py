"""The application's mapper: every event sealed on the way in, opened on the way out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain import topics
from domain.privacy.keys import SubjectKeys
from domain.privacy.sealing import open_state, seal_state
from domain.privacy.values import EXPORT_SEALED_FIELDS, SUBJECT_ATTRIBUTE


class PrivacyMapper(Mapper[UUID]):
    """The library's mapper, sealing personal fields on the way in and opening them on
    the way out (:func:`seal_state`, :func:`open_state`). ``keys`` is set by the
    application before its first event."""

    keys: SubjectKeys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        user_id = state.pop(SUBJECT_ATTRIBUTE, None)
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        topic = get_topic(type(domain_event))
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if user_id is not None:
            kind = topic.rsplit(".", 1)[-1]
            first = originator_version == 1
            state = seal_state(kind, originator_id, state, user_id, self.keys, first=first)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def to_stored_events(self, domain_events: Iterable[Any]) -> list[StoredEvent]:
        """Many events mapped as ``to_stored_event`` maps one, their subjects' keys and
        their exports' keys made or fetched first, in one call each (a bulk write
        names hundreds of subjects and exports)."""
        events = list(domain_events)
        owners = [(e, u) for e in events if (u := getattr(e, SUBJECT_ATTRIBUTE, None))]
        self.keys.prepare_writing_keys({self.keys.pseudonym(u) for _, u in owners})
        exports: dict[UUID, tuple[str, bool]] = {}
        for event, user_id in owners:
            first = event.originator_version == 1
            if first or any(getattr(event, f, None) is not None for f in EXPORT_SEALED_FIELDS):
                made = exports.get(event.originator_id, ("", False))[1]
                exports[event.originator_id] = (self.keys.pseudonym(user_id), first or made)
        if exports:
            self.keys.prepare_export_keys(exports)
        return [self.to_stored_event(e) for e in events]

    def prepare_reading(self, user_ids: Iterable[str], exports: Iterable[UUID] = ()) -> None:
        """Fetch at once the keys of the users and exports a bulk read will open."""
        self.keys.prepare_reading_keys(
            {self.keys.pseudonym(u) for u in user_ids}, frozenset(exports)
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        if stored_event.topic.startswith(topics.EXPORT_EVENT_PREFIX):
            state = vars(domain_event)
            event_type = stored_event.topic[len(topics.EXPORT_EVENT_PREFIX) :]
            originator_id = stored_event.originator_id
            assert isinstance(originator_id, UUID)
            open_state(event_type, originator_id, state, self.keys)
        return domain_event
