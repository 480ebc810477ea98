"""RFC 9457 problem details: every error the API returns, and how each is made.

Handlers turn domain errors, validation errors, HTTP errors and database
outages into ``application/problem+json``; :class:`BodyLimit` refuses
oversized bodies before anything parses them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from domain import exceptions as errors

log = logging.getLogger("export_ledger.errors")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 2
_TYPE = "urn:export-ledger:problem:"
_REF = {"$ref": "#/components/schemas/ProblemDetail"}


class FieldError(BaseModel):
    """One offending input of a request that failed validation."""

    field: str = Field(description="Dotted location, e.g. 'body.config.scope' or 'query.limit'.")
    message: str
    type: str = Field(description="Machine-readable kind, e.g. 'missing' or 'extra_forbidden'.")


class ProblemDetail(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:export-ledger:problem:not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "export 'exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C' not found",
                }
            ]
        },
    )

    type: str = Field(description="URI reference naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    errors: list[FieldError] | None = Field(
        default=None, description="Offending fields (validation problems only)."
    )
    current_status: str | None = Field(default=None, description="Illegal transitions only.")
    requested_status: str | None = Field(default=None, description="Illegal transitions only.")
    hold_id: str | None = Field(default=None, description="Legal holds only: the open hold.")


class Problem(Exception):
    """Raised anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE + kind if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extensions.items() if v is not None},
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def unavailable(detail: str) -> Problem:
    return Problem(
        503, detail, kind="unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def invalid_field(field: str, message: str, status: int = 422) -> Problem:
    error = FieldError(field=field, message=message, type="value_error")
    return Problem(status, f"{field}: {message}", kind="validation", errors=[error.model_dump()])


# -- handlers -------------------------------------------------------------------------------

_DOMAIN: tuple[tuple[type[errors.ExportLedgerError], int, str], ...] = (
    (errors.ExportNotFound, 404, "not-found"),
    (errors.CheckpointNotFound, 404, "checkpoint-not-found"),
    (errors.HoldNotFound, 404, "hold-not-found"),
    (errors.IllegalTransition, 409, "illegal-transition"),
    (errors.ExportOnHold, 409, "legal-hold"),
    (errors.SubjectErased, 409, "subject-erased"),
    (errors.ExportShed, 409, "export-shed"),
    (errors.ConcurrentModification, 409, "concurrent-modification"),
    (errors.IdempotencyKeyReused, 409, "idempotency-key-reused"),
    (errors.InvalidExport, 422, "invalid-export"),
)


async def _problem(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return problem_response(
        error.status, error.detail, kind=error.kind, headers=error.headers, **error.extensions
    )


async def _domain(request: Request, error: Exception) -> JSONResponse:
    for kind, status, name in _DOMAIN:
        if isinstance(error, kind):
            current = error.status if isinstance(error, errors.IllegalTransition) else None
            hold = error.hold_id if isinstance(error, errors.ExportOnHold) else None
            return problem_response(
                status, str(error), kind=name, current_status=current, hold_id=hold
            )
    if isinstance(error, errors.SubjectKeyMissing):
        log.error("%s %s: %s", request.method, request.url.path, error)  # a pseudonym, no key
        missing = "export" if isinstance(error, errors.ExportKeyMissing) else "subject"
        return problem_response(500, str(error), kind=f"{missing}-key-missing")
    if isinstance(error, errors.StoreUnavailable | errors.ReadModelError):
        log.warning("%s %s: %s", request.method, request.url.path, error)
        return await _problem(request, unavailable("the ledger's database is unavailable"))
    log.error("unexpected ledger error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "internal error", kind="internal")


async def _database(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, error)
    return await _problem(request, unavailable("the database is unavailable; retry shortly"))


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(error.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The documented methods of the most specific path template the request matches
    (Starlette's own 405 names only the first matching route's methods)."""
    matching: list[tuple[int, set[str]]] = []
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            matching.append((template.count("{"), {method.upper() for method in operations}))
    if not matching:
        return []
    fewest = min(params for params, _ in matching)
    return sorted(set().union(*(methods for params, methods in matching if params == fewest)))


async def _validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    found = field_errors(error.errors())
    if any(e["type"] == "json_invalid" for e in found):
        return problem_response(400, "the body is not valid JSON", kind="malformed-json")
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in found[:5])
    return problem_response(422, summary or "invalid request", kind="validation", errors=found)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "internal error", kind="internal")


def field_errors(raw: Sequence[Any]) -> list[dict[str, str]]:
    """Validation errors as JSON-safe ``FieldError`` dicts (no echoed input)."""
    found = []
    for item in raw:
        location = ".".join(str(part) for part in item.get("loc", ()))
        found.append(
            {"field": location, "message": str(item.get("msg", "")), "type": str(item.get("type"))}
        )
    return found


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(errors.ExportLedgerError, _domain)
    app.add_exception_handler(psycopg.OperationalError, _database)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)


# -- OpenAPI --------------------------------------------------------------------------------

_EXAMPLES: dict[int, tuple[str, str]] = {
    400: ("malformed-json", "the body is not valid JSON"),
    401: ("", "missing bearer token"),
    403: ("", "this operation is for admins only"),
    404: ("not-found", "export 'exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C' not found"),
    409: ("illegal-transition", "export 'exp_01JQ8Z6Y4N3M2K1H0G9F8E7D6C' is queued: cannot expire"),
    413: ("", "the body exceeds 65536 bytes"),
    422: ("validation", "body.conversation_count: Input should be greater than or equal to 0"),
    503: ("unavailable", "the database is unavailable; retry shortly"),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        kind, detail = _EXAMPLES[code]
        example = problem_response(code, detail, kind=kind or None).body
        entry: dict[str, Any] = {
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_JSON: {"schema": _REF, "example": _json(example)}},
        }
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": _header("Bearer challenge", "Bearer")}
        if code == 503:
            entry["headers"] = {"Retry-After": _header("Seconds to wait", str(RETRY_AFTER_SECONDS))}
        documented[code] = entry
    return documented


def add_schemas(openapi: dict[str, Any]) -> None:
    """Put ProblemDetail (and FieldError) in the document's components."""
    schema = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["ProblemDetail"] = schema


def _header(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}, "example": example}


def _json(body: bytes | memoryview) -> Any:
    import json

    return json.loads(bytes(body))
