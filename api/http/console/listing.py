"""The export list's filters, read from the URL (so a view can be shared) and checked
with the same rules as the API's list parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from api.http.console.session import PageError
from domain.exports.values import ExportFormat
from projections.reads.read_store import ListFilters, Principal, decode_cursor

STATUSES = ("queued", "processing", "completed", "failed", "expired")
FORMATS = tuple(f.value for f in ExportFormat)
PAGE_SIZES = (10, 25, 50, 100)
_FIELDS = ("status", "format", "date_from", "date_to", "user_id", "limit")


@dataclass(frozen=True)
class ListView:
    status: str = ""
    format: str = ""
    date_from: str = ""
    date_to: str = ""
    user_id: str = ""
    limit: int = 25
    cursor: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, str], principal: Principal) -> ListView:
        text = {name: params.get(name, "").strip() for name in (*_FIELDS, "cursor")}
        if text["user_id"] and not principal.admin:
            raise PageError(403, "Only admins may filter by user.")
        errors = {}
        if text["status"] and text["status"] not in STATUSES:
            errors["status"] = "Pick one of the listed statuses."
        if text["format"] and text["format"] not in FORMATS:
            errors["format"] = "Pick one of the listed formats."
        for name in ("date_from", "date_to"):
            if text[name] and _date(text[name]) is None:
                errors[name] = "Give a date as YYYY-MM-DD."
        if len(text["user_id"]) > 200 or "\x00" in text["user_id"]:
            errors["user_id"] = "A user id is at most 200 characters."
        limit = int(text["limit"]) if text["limit"] in {str(n) for n in PAGE_SIZES} else 25
        if text["cursor"] and _cursor(text["cursor"]) is None:
            errors["cursor"] = "That page link is broken; start from the first page."
        values = {k: v for k, v in text.items() if k != "limit"}
        return cls(**values, limit=limit, errors=errors)

    def filters(self) -> ListFilters:
        end = _date(self.date_to)
        start = _date(self.date_from)
        return ListFilters(
            user_id=self.user_id or None,
            status=self.status or None,
            format=self.format or None,
            date_from=datetime.combine(start, time.min, UTC) if start else None,
            date_to=datetime.combine(end, time.max, UTC) if end else None,
            limit=self.limit,
            cursor=_cursor(self.cursor) if self.cursor else None,
        )

    def url(self, cursor: str = "") -> str:
        """This view's URL, at the page ``cursor`` points to (the first page without it)."""
        view = replace(self, cursor=cursor)
        params = {name: str(getattr(view, name)) for name in (*_FIELDS, "cursor")}
        kept = {k: v for k, v in params.items() if v and not (k == "limit" and v == "25")}
        return "/ui/exports" + (f"?{urlencode(kept)}" if kept else "")

    @property
    def filtered(self) -> bool:
        return any(getattr(self, name) for name in _FIELDS[:5])


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _cursor(text: str) -> tuple[datetime, str] | None:
    try:
        return decode_cursor(text)
    except ValueError:
        return None
