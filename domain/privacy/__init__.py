"""Crypto-shredding: the personal fields of every event, sealed under keys kept outside
the events, so that destroying a key sheds what it sealed while the events stay.

A data subject is the user an export is for; each subject has a data key, and each
export recorded since export keys has one of its own (:class:`SubjectKeys`: the
``subject_keys`` and ``export_keys`` tables by default, an in-memory store for tests).
The personal fields of an event (:data:`PERSONAL_FIELDS`, and ``actor`` when it names
the subject) are stored sealed (the format: domain/privacy/sealing.py): ``user_id``
and ``actor`` under the subject's key; ``config``, ``file_url``, ``error_message`` and
``reason`` (:data:`EXPORT_SEALED_FIELDS`) under the export's key, made with its first
event. The event also carries ``subject``, the subject's keyed pseudonym (an HMAC of
the user id under the ledger's secret), in the clear. Everything else stays clear, so
the leaves, lists, filters and row-level security work as before.

Erasure destroys the subject's key and all of its exports' keys: every sealed field
then opens as erased (:func:`erased_value`). A retention destroys one export's key: its
own fields then open as shed (:func:`shed_value`), its owner stays. Neither is an
error; a missing key that was never destroyed is, naming the subject or export
(:class:`~domain.exceptions.SubjectKeyMissing`, ``ExportKeyMissing``).

Older events keep opening as they were stored. Events sealed before export keys hold
every field under the subject's key (no marker), and so do the later events of their
exports (they have no export key). Events stored before sealing carry no ``subject``
and hold their fields in the clear; once their export's subject is erased (the key
store lists erased exports) they open as erased too, though the clear copies stay in
the sealed log.

This package is the one place that seals and opens: the application's mapper
(:class:`PrivacyMapper`, every write and every load of an aggregate, the import's
bulk writes included) and the projection's decoder (``projections/readmodel/changes.py``:
the follower, the rebuild, verify) both call :func:`seal_state` and :func:`open_state`.
"""

from domain.privacy.keys import (
    ExportKey,
    ExportKeysRefused,
    KeyGone,
    KeySource,
    MemoryKeys,
    NewExportKey,
    NewExportKeys,
    SubjectKeys,
    new_key,
    writable,
)
from domain.privacy.mapper import PrivacyMapper
from domain.privacy.sealing import (
    BY_EXPORT,
    BY_SUBJECT,
    EXPORT_MARKER,
    KEY_MARKER,
    SEALED,
    is_sealed,
    open_export_value,
    open_state,
    open_value,
    opened_export_field,
    seal_export_value,
    seal_state,
    seal_value,
    sealed_by,
)
from domain.privacy.values import (
    ACTOR,
    ERASED_PREFIX,
    ERASED_TEXT,
    EXPORT_SEALED_FIELDS,
    PERSONAL_FIELDS,
    SHED_TEXT,
    SUBJECT,
    SUBJECT_ATTRIBUTE,
    SUBJECT_KEYS_TOPIC,
    check_reason,
    erased_subject,
    erased_value,
    pseudonym,
    shed_value,
    stored_subject,
)

__all__ = [
    "ACTOR",
    "BY_EXPORT",
    "BY_SUBJECT",
    "ERASED_PREFIX",
    "ERASED_TEXT",
    "EXPORT_MARKER",
    "EXPORT_SEALED_FIELDS",
    "KEY_MARKER",
    "PERSONAL_FIELDS",
    "SEALED",
    "SHED_TEXT",
    "SUBJECT",
    "SUBJECT_ATTRIBUTE",
    "SUBJECT_KEYS_TOPIC",
    "ExportKey",
    "ExportKeysRefused",
    "KeyGone",
    "KeySource",
    "MemoryKeys",
    "NewExportKey",
    "NewExportKeys",
    "PrivacyMapper",
    "SubjectKeys",
    "check_reason",
    "erased_subject",
    "erased_value",
    "is_sealed",
    "new_key",
    "open_export_value",
    "open_state",
    "open_value",
    "opened_export_field",
    "pseudonym",
    "seal_export_value",
    "seal_state",
    "seal_value",
    "sealed_by",
    "shed_value",
    "stored_subject",
    "writable",
]
