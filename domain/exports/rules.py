"""The rules a command's input must satisfy before any event is recorded.

Each check raises :class:`~domain.exceptions.InvalidExport` with a message a
user can act on; none of them touches the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.exceptions import InvalidExport
from domain.exports.config import check_config, has_nul
from domain.exports.values import ExportFormat, Status

MAX_CONVERSATIONS = 10_000_000


def check_request(
    user_id: str, fmt: str, config: Mapping[str, Any] | None, conversation_count: int
) -> tuple[str, dict[str, Any]]:
    if not user_id or not user_id.strip() or len(user_id) > 200:
        raise InvalidExport("user_id must be 1 to 200 characters")
    try:
        valid_format = ExportFormat(fmt)
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise InvalidExport(f"format must be one of {allowed}, not {fmt!r}") from None
    if _not_int(conversation_count):
        raise InvalidExport("conversation_count must be an integer")
    if not 0 <= conversation_count <= MAX_CONVERSATIONS:
        raise InvalidExport(f"conversation_count must be 0 to {MAX_CONVERSATIONS}")
    return valid_format.value, check_config(config, valid_format.value)


def check_completion(
    file_size: int,
    file_url: str,
    expires_at: datetime | None,
    file_sha256: str | None,
    row_count: int | None,
) -> None:
    if _not_int(file_size) or file_size < 0:
        raise InvalidExport("file_size must be a non-negative integer")
    if not file_url or len(file_url) > 2048:
        raise InvalidExport("file_url must be 1 to 2048 characters")
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidExport("expires_at must carry a timezone")
    if file_sha256 is not None:
        check_sha256(file_sha256)
    if row_count is not None and (_not_int(row_count) or row_count < 0):
        raise InvalidExport("row_count must be a non-negative integer")


def check_no_nul(data: Mapping[str, Any]) -> None:
    """PostgreSQL text cannot hold NUL: a recorded NUL would stop the projection."""
    for key, value in data.items():
        if has_nul(value):
            raise InvalidExport(f"{key} must not contain NUL characters")


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def check_sha256(value: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidExport("file_sha256 must be 64 lowercase hex characters")


def aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise InvalidExport("the timestamp must carry a timezone (e.g. 2026-03-03T14:00:00Z)")
    return at.astimezone(UTC)


def check_status(status: str) -> Status:
    """A status a new export may start in (every one but deleted)."""
    try:
        valid = Status(status)
    except ValueError:
        valid = Status.DELETED
    if valid == Status.DELETED:
        allowed = ", ".join(s.value for s in Status if s != Status.DELETED)
        raise InvalidExport(f"status must be one of {allowed}, not {status!r}")
    return valid


def request_fingerprint(
    user_id: str, fmt: str, config: dict[str, Any], count: int, status: Status = Status.QUEUED
) -> str:
    """What makes two requests the same one (an idempotency key's retry); a queued
    request's fingerprint is what it was before requests could start past queued."""
    parts: list[Any] = [user_id, fmt, config, count]
    if status != Status.QUEUED:
        parts.append(str(status))
    body = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def check_hold(matter: str, reason: str | None) -> None:
    """A legal hold names its matter (1 to 200 characters) and may say why."""
    if not matter or not matter.strip() or len(matter) > 200:
        raise InvalidExport("matter must be 1 to 200 characters")
    if reason is not None and len(reason) > 2000:
        raise InvalidExport("reason must be at most 2000 characters")
