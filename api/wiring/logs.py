"""Logging: one JSON object per line, or readable text when stderr is a terminal.

:func:`setup_logging` is called by the entry points when they start, never at
import. A log record's ``fields`` extra (a dict) becomes keys of its JSON line.
:class:`RequestLog` writes one line per HTTP request, gives each request an id
(``X-Request-ID``, taken from the caller when it is a sane one) and feeds the
request metrics.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.wiring.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
request_log = logging.getLogger("export_ledger.request")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_OURS = "_export_ledger_handler"
OUR_LOGGERS = ("export_ledger", "uvicorn")
"""Every logger of ours is named ``export_ledger.<what it logs>``, whatever module logs."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # only when tracing is on (api/http/tracing.py)
            line["trace_id"] = format(span.trace_id, "032x")
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except TypeError:  # what orjson will not write (an integer beyond 64 bits, say)
            return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        text = f"{moment} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        text = f"{text}  {extra}" if extra else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(
    level: int | str = logging.INFO, stream: TextIO | None = None, *, json_lines: bool | None = None
) -> logging.Handler:
    """Route every logger through one handler on ``stream`` (stderr): JSON lines unless
    the stream is a terminal (or ``json_lines`` says otherwise). Our loggers log from
    ``level``, other libraries' from warnings. Idempotent."""
    stream = stream if stream is not None else sys.stderr
    as_json = json_lines if json_lines is not None else not _is_tty(stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries (the embedded server's is chatty): warnings only
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return handler


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class RequestLog:
    """ASGI middleware: request id, one log line and the metrics of every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = str(scope.get("method", ""))
        self.metrics.observe_request(method, route, status, seconds)
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "path": scope.get("path"),
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
            "user": scope.get("state", {}).get("user_id"),
        }
        request_log.info("%s %s %d", method, route, status, extra={"fields": fields})


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/exports/{export_id}``), never the raw path,
    so metrics labels stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _SANE_ID.match(text):
                return text
    # Not a secret, only unique: from the random module's generator (reseeded
    # in a forked worker) rather than the kernel's random source, which uuid4
    # asks on every request with a system call that lets go of the GIL.
    return f"{random.getrandbits(128):032x}"
