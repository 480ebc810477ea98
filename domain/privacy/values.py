"""Which fields are personal, under which key each is sealed, and what a field reads as
once its key is gone (erased or shed)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Any

import orjson

from domain.exceptions import InvalidExport

PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "Requested": ("user_id", "config"),
    "Imported": ("user_id", "config", "file_url", "error_message"),
    "Completed": ("file_url",),
    "Failed": ("error_message",),
    "Deleted": ("reason",),
}
"""Per event type, the fields that are sealed (``actor`` too, on every export event,
when it is the subject's own user id). Everything else is clear."""

EXPORT_SEALED_FIELDS = ("config", "file_url", "error_message", "reason")
"""The personal fields sealed under the export's own key (sql/migrations/
0014_export_keys.sql), so that a retention can shed them while the export's owner
(``user_id``, and ``actor``, under the subject's key) stays."""

ACTOR = "actor"
SUBJECT = "subject"
"""The key of the subject's pseudonym in a stored event's state (clear)."""
SUBJECT_ATTRIBUTE = "_subject_user_id"
"""Set on an export's pending events by the aggregate, taken off by the mapper: whose
key seals them. Never stored."""
SUBJECT_KEYS_TOPIC = "SUBJECT_KEYS_TOPIC"
"""The application setting naming the key store's class (its ``from_env`` makes it from
the application's settings), as the library's own settings name its classes."""

ERASED_TEXT = "[erased]"
ERASED_PREFIX = "erased:"
SHED_TEXT = "[shed]"


def erased_value(field: str, subject: str) -> Any:
    """What an erased field reads as: the user id becomes ``erased:<pseudonym>`` (so
    row-level security still keeps the rows apart), the config a marker, text a marker."""
    if field == "user_id":
        return ERASED_PREFIX + subject
    if field == "config":
        return {"erased": True}
    return ERASED_TEXT


def shed_value(field: str) -> Any:
    """What a field shed by a retention reads as: told apart from an erased one, and
    never another user (``user_id`` is never shed)."""
    if field == "config":
        return {"shed": True}
    return SHED_TEXT


def erased_subject(user_id: str) -> str | None:
    """The pseudonym inside an erased user id, or None for a live one."""
    return user_id[len(ERASED_PREFIX) :] if user_id.startswith(ERASED_PREFIX) else None


@lru_cache(maxsize=32_768)  # every event of a write names its subject
def pseudonym(secret: bytes, user_id: str) -> str:
    """A subject's keyed pseudonym: HMAC-SHA256 of the user id, 32 hex characters."""
    if (known := erased_subject(user_id)) is not None:
        return known
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]


def stored_subject(state: bytes) -> str | None:
    """The subject pseudonym a stored event's state carries in the clear (None: an event
    stored before pseudonyms, or one that is not an export's)."""
    try:
        decoded = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    subject = decoded.get(SUBJECT) if type(decoded) is dict else None
    return subject if isinstance(subject, str) else None


def check_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > 2000:
        raise InvalidExport("reason must be at most 2000 characters")
