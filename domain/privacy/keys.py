"""What sealing and opening ask of a key store, and a key store in memory.

Two kinds of key, both AES-256, kept outside the events: a subject's (``user_id`` and
``actor``, and every field of an export recorded before export keys) and an export's
own (:data:`~domain.privacy.values.EXPORT_SEALED_FIELDS` of exports recorded since).
An erasure destroys the subject's key and all of its exports' keys at once; a
retention destroys one export's key (it is then *shed*). Either way the key's record
stays, so that a lost key is told apart from a destroyed one.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import IntegrityError

from domain.exceptions import ExportKeyMissing, ExportShed, SubjectErased, SubjectKeyMissing
from domain.privacy.values import pseudonym


class KeyGone(enum.Enum):
    """Why an export's key is no more: a retention shed it, or its subject was erased."""

    SHED = "shed"
    ERASED = "erased"


ExportKey = bytes | KeyGone
"""An export's key as a reader gets it: the key, or why it is gone."""


class NewExportKey(NamedTuple):
    """An export's key made by the writer and not stored yet: it is stored with the
    events sealed under it, in their transaction."""

    aggregate_id: UUID
    subject: str
    key: bytes


NewExportKeys = dict[UUID, NewExportKey]


class ExportKeysRefused(IntegrityError):
    """The event store stored none of a command's new export keys, nor its events: a
    subject was erased (or has no key), or an export has a key already. The writer
    makes them again one by one, and learns which and why."""


class KeySource(Protocol):
    """What opening sealed fields needs: a subject's key, an export's key, and which
    exports (recorded in the clear) are erased."""

    def reading_key(self, subject: str) -> bytes | None:
        """The key, or None when the subject was erased; SubjectKeyMissing when it
        has none and was never erased."""
        ...

    def export_reading_key(self, aggregate_id: UUID, subject: str) -> ExportKey:
        """The export's key, or why it is gone; ExportKeyMissing when it has none
        (``subject``, the event's pseudonym, names it in that error)."""
        ...

    def erased_export(self, aggregate_id: UUID) -> str | None:
        """The erased subject of an export (for its clear events), or None."""
        ...


class SubjectKeys(KeySource, Protocol):
    """The key store the application writes with (and erases in)."""

    def pseudonym(self, user_id: str) -> str: ...

    def writing_key(self, subject: str) -> bytes:
        """The subject's key, made on first use; SubjectErased once erased."""
        ...

    def prepare_writing_keys(self, subjects: Collection[str]) -> None:
        """Make or fetch the keys of many subjects at once, so that the
        ``writing_key`` calls of a bulk write that follow find them at hand."""
        ...

    def export_writing_key(self, aggregate_id: UUID, subject: str, *, make: bool) -> bytes | None:
        """The key an export's new values are sealed under. With ``make`` (the export's
        first event) it is made unless it exists, for a subject whose key exists
        (made first); without, None for an export that has none (recorded before
        export keys: its values stay under the subject's key). SubjectErased once
        the subject is erased, ExportShed once a retention shed it."""
        ...

    def prepare_export_keys(self, exports: Mapping[UUID, tuple[str, bool]]) -> None:
        """Make or fetch many exports' keys at once (by aggregate id: its subject, and
        whether to make it), for the ``export_writing_key`` calls of a bulk write."""
        ...

    def deferring_export_keys(self) -> AbstractContextManager[NewExportKeys]:
        """Within it (on this thread), a key ``export_writing_key`` has to make is made
        here and not stored: it is added to the dict given, for the caller to store
        with the events sealed under it, and to pass to :meth:`export_keys_stored`
        once they are. A store that keeps its keys itself gives an empty dict."""
        ...

    def export_keys_stored(self, made: NewExportKeys) -> None:
        """The keys ``deferring_export_keys`` gave were stored with their events."""
        ...

    def prepare_reading_keys(
        self, subjects: Collection[str], exports: Collection[UUID] = ()
    ) -> None:
        """Fetch the keys many subjects and exports have (making none), for a bulk read."""
        ...

    def erase(self, subject: str, exports: list[UUID]) -> bool:
        """Destroy the subject's key and every export key of theirs, and list the
        subject's exports as erased; False when it was erased already (the exports
        are added, and keys made since destroyed, all the same)."""
        ...

    def is_erased(self, subject: str) -> bool: ...

    def shed(self, aggregate_id: UUID) -> None:
        """A retention shed the export's key: storing its RetentionApplied destroyed it
        (the key table's trigger; a store without one destroys it here). This process
        forgets it at once."""
        ...

    def settle(self) -> None:
        """Return once no process can still hold a key it read before now (the key
        caches' lifetime; at once for a store with no cache)."""
        ...


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class MemoryKeys:
    """Subject and export keys in dicts, for the in-memory event store."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or os.urandom(32)
        self.keys: dict[str, bytes | None] = {}
        self.export_keys: dict[UUID, tuple[str, ExportKey]] = {}
        self.exports: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def pseudonym(self, user_id: str) -> str:
        return pseudonym(self.secret, user_id)

    def writing_key(self, subject: str) -> bytes:
        with self._lock:
            key = self.keys.setdefault(subject, new_key())
        if key is None:
            raise SubjectErased(subject, "record personal data")
        return key

    def prepare_writing_keys(self, subjects: Collection[str]) -> None:
        with self._lock:
            for subject in subjects:
                self.keys.setdefault(subject, new_key())

    def export_writing_key(self, aggregate_id: UUID, subject: str, *, make: bool) -> bytes | None:
        with self._lock:
            found = self.export_keys.get(aggregate_id)
            if found is None and make:
                if self.keys.get(subject) is None:  # erased, or no key (made first)
                    raise SubjectErased(subject, "record personal data")
                found = self.export_keys[aggregate_id] = (subject, new_key())
        return None if found is None else writable(aggregate_id, *found)

    def prepare_export_keys(self, exports: Mapping[UUID, tuple[str, bool]]) -> None:
        return None  # nothing to fetch

    def deferring_export_keys(self) -> AbstractContextManager[NewExportKeys]:
        return nullcontext({})  # keys are kept here as they are made

    def export_keys_stored(self, made: NewExportKeys) -> None:
        return None

    def prepare_reading_keys(
        self, subjects: Collection[str], exports: Collection[UUID] = ()
    ) -> None:
        return None

    def reading_key(self, subject: str) -> bytes | None:
        if subject not in self.keys:
            raise SubjectKeyMissing(subject)
        return self.keys[subject]

    def export_reading_key(self, aggregate_id: UUID, subject: str) -> ExportKey:
        found = self.export_keys.get(aggregate_id)
        if found is None:
            raise ExportKeyMissing(str(aggregate_id), subject)
        return found[1]

    def erased_export(self, aggregate_id: UUID) -> str | None:
        return self.exports.get(aggregate_id)

    def is_erased(self, subject: str) -> bool:
        return subject in self.keys and self.keys[subject] is None

    def erase(self, subject: str, exports: list[UUID]) -> bool:
        with self._lock:
            first = self.keys.get(subject, b"") is not None
            self.keys[subject] = None
            for aggregate_id, (owner, _) in list(self.export_keys.items()):
                if owner == subject:
                    self.export_keys[aggregate_id] = (owner, KeyGone.ERASED)
            self.exports.update(dict.fromkeys(exports, subject))
        return first

    def shed(self, aggregate_id: UUID) -> None:
        """Destroy one export's key, as a retention does (the key table's UPDATE)."""
        with self._lock:
            found = self.export_keys.get(aggregate_id)
            if found is not None and isinstance(found[1], bytes):
                self.export_keys[aggregate_id] = (found[0], KeyGone.SHED)

    def settle(self) -> None:
        return None  # nothing cached


def writable(aggregate_id: UUID, subject: str, key: ExportKey) -> bytes:
    """An export's key to seal under; SubjectErased or ExportShed once it is gone."""
    if key is KeyGone.ERASED:
        raise SubjectErased(subject, "record personal data")
    if key is KeyGone.SHED:
        raise ExportShed(str(aggregate_id))
    assert isinstance(key, bytes)
    return key
