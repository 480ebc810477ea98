"""OpenTelemetry traces of the HTTP requests and their SQL, exported over OTLP/HTTP.

On only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
set (the SDK's own default would export to localhost); the other standard ``OTEL_*``
variables (service name, resource attributes, headers, batch delays, sampler) apply as
the SDK reads them. No user id reaches a span: a route's path carries ``{user_id}`` in
place of the id, and a ``user_id=`` query value is replaced; SQL spans carry the
statement's text, never its parameters. The trace id appears in the JSON log lines
(api/wiring/logs.py).

A request's span is FastAPI's own (its native telemetry, :data:`FASTAPI_TELEMETRY`):
one server span per request, named by method and route, which finds the tracer
provider once it is set. It costs less per request than the separate ASGI
instrumentation, which wraps the app in two more middlewares and collects its
attributes anew from the scope. The projector's loops run with instrumentation
suppressed (projections/projector.py), so only the SQL of requests, commands and
our own spans is traced.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from api.http.otlp_spans import encode_spans

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE = "export-ledger"
_USER_PATH = re.compile(r"^(/api/subjects/)[^/?#]+")
_USER_QUERY = re.compile(r"(^|[?&])(user_id=)[^&#]*")
_URL_ATTRIBUTES = ("http.target", "url.path", "url.query", "http.url", "url.full")
_provider: TracerProvider | None = None

FASTAPI_TELEMETRY: TelemetryConfig = {
    "metrics": False,  # /metrics (Prometheus) counts requests already
    "logs": False,  # errors reach our JSON log lines already
    "operation_spans": False,  # a span per dependency and serialisation: not needed
}
"""The app's native telemetry: request spans only. Off until :func:`install` sets a
tracer provider (FastAPI traces only with a configured one)."""


def enabled(env: Mapping[str, str] = os.environ) -> bool:
    return any(env.get(name) for name in ENDPOINTS)


def scrub(text: str) -> str:
    """A path, query or URL without the user ids it may carry."""
    path_start = text.find("/api/")
    if path_start > 0:
        return text[:path_start] + scrub(text[path_start:])
    text = _USER_PATH.sub(r"\1{user_id}", text)
    return _USER_QUERY.sub(r"\1\2[scrubbed]", text)


class Scrubbing(SpanProcessor):
    """Scrubs a request span's URL attributes as it starts (it is given them when it
    starts; its route, set later, is a template)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.kind is not SpanKind.SERVER:  # only a request's span carries its URL
            return
        attributes = span.attributes or {}
        for name in _URL_ATTRIBUTES:
            value = attributes.get(name)
            if isinstance(value, str):
                span.set_attribute(name, scrub(value))


class QuietRoots(Sampler):
    """The configured sampler (``OTEL_TRACES_SAMPLER``), but for client spans with no
    parent: SQL outside any request, command, batch or delivery, which is the projector's
    and the watchers' polling and would otherwise be a steady stream of one-statement
    traces (the psycopg instrumentation's spans are clients; ours are not)."""

    def __init__(self, base: Sampler) -> None:
        self.base = base

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if (
            kind is SpanKind.CLIENT
            and not get_current_span(parent_context).get_span_context().is_valid
        ):
            return SamplingResult(Decision.DROP)  # SQL with no parent: a database client span
        return self.base.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"QuietRoots({self.base.get_description()})"


class WireSpanExporter(OTLPSpanExporter):
    """The OTLP/HTTP protobuf exporter, its configuration and transport as they are,
    with its request body written by :func:`~api.http.otlp_spans.encode_spans`
    rather than built as protobuf objects (the larger part of tracing's cost per
    request). It leaves out the exporter's own metrics (off unless an SDK meter
    provider is set, which we do not) and its 64 MiB bound on a body (a batch of
    512 of our spans is about 150 kB)."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        sent = self._client.export(encode_spans(spans))
        return SpanExportResult.SUCCESS if sent.success else SpanExportResult.FAILURE


def install() -> TracerProvider | None:
    """Trace the apps built with :data:`FASTAPI_TELEMETRY` and every psycopg connection
    made from now on, when configured."""
    global _provider
    if not enabled():
        return None
    if _provider is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME")
                                    or DEFAULT_SERVICE})  # fmt: skip
        _provider = TracerProvider(
            resource=resource, sampler=QuietRoots(_get_from_env_or_default())
        )
        _provider.add_span_processor(Scrubbing())
        _provider.add_span_processor(BatchSpanProcessor(WireSpanExporter()))
        trace.set_tracer_provider(_provider)
        PsycopgInstrumentor().instrument(tracer_provider=_provider, skip_dep_check=True)
    return _provider


def flush() -> None:
    """Export what is buffered (at shutdown)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)
