"""Errors of the Supabase-compatible surface, in PostgREST's shape and with its statuses.

supabase-js hands the body to its caller as ``error`` (``code``, ``message``, ``details``,
``hint``), so every refusal here is one of these, never problem+json. The ledger's own
refusals, which PostgREST has no code for, use codes starting ``LDG``.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

TABLE = "export_logs"

IMMUTABLE_COLUMN = "LDG01"
"""400: a column the ledger never rewrites (the request, its id, its timestamp)."""
REFUSED_MOVE = "LDG02"
"""409: a status move the lifecycle does not allow."""
ON_HOLD = "LDG03"
"""409: an open legal hold keeps the export's records."""
CHANGED_MEANWHILE = "LDG04"
"""409: another command changed the export first; nothing was recorded."""
NOT_AT_STATUS = "LDG05"
"""400: a column the export's status does not hold (a file before completion)."""
UNAVAILABLE = "LDG06"
"""503: the database or the projection cannot answer now."""


class PostgrestError(Exception):
    """Raised anywhere in a /rest/v1 or /auth/v1 request to answer with this error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "hint": self.hint,
                "message": self.message}  # fmt: skip

    def response(self, *, head: bool = False) -> Response:
        """The error as PostgREST sends it (a HEAD: the status and headers only)."""
        import orjson

        content = b"" if head else orjson.dumps(self.body())
        return Response(content, self.status, headers=self.headers, media_type="application/json")


def parse_error(message: str, details: str | None = None) -> PostgrestError:
    return PostgrestError(400, "PGRST100", message, details)


def unknown_column(column: str) -> PostgrestError:
    return PostgrestError(400, "42703", f"column {TABLE}.{column} does not exist")


def unknown_body_column(column: str) -> PostgrestError:
    return PostgrestError(
        400, "PGRST204", f"Could not find the '{column}' column of '{TABLE}' in the schema cache"
    )


def invalid_body(details: str) -> PostgrestError:
    return PostgrestError(400, "PGRST102", "Empty or invalid json", details)


def not_one_row(count: int) -> PostgrestError:
    return PostgrestError(
        406,
        "PGRST116",
        "JSON object requested, multiple (or no) rows returned",
        f"The result contains {count} rows",
    )


def unknown_table(name: str) -> PostgrestError:
    return PostgrestError(
        404,
        "PGRST205",
        f"Could not find the table 'public.{name}' in the schema cache",
        hint=f"Perhaps you meant the table 'public.{TABLE}'",
    )


def unknown_schema(name: str) -> PostgrestError:
    return PostgrestError(
        406,
        "PGRST106",
        f"Invalid schema: {name}",
        hint="Only the following schemas are exposed: public",
    )


def range_past_end(offset: int, total: int) -> PostgrestError:
    return PostgrestError(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        f"An offset of {offset} was requested, but there are only {total} rows.",
        headers={"Content-Range": f"*/{total}"},
    )


def row_security(anonymous: bool) -> PostgrestError:
    return PostgrestError(
        401 if anonymous else 403,
        "42501",
        f'new row violates row-level security policy for table "{TABLE}"',
    )


def check_violation(message: str) -> PostgrestError:
    return PostgrestError(400, "23514", message)


def not_null(column: str) -> PostgrestError:
    return PostgrestError(
        400, "23502", f'null value in column "{column}" of relation "{TABLE}" violates not-null '
        "constraint",
    )  # fmt: skip


def wrong_type(column: str, kind: str, value: Any) -> PostgrestError:
    return PostgrestError(
        400, "22P02", f"invalid input syntax for type {kind}: {value!r} (column {column})"
    )
