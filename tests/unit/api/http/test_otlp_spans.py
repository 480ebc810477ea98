"""The OTLP body written straight to the wire parses, with the official message
classes, to the same request as the exporter's own encoder builds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as library_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceFlags, TraceState

from api.http.otlp_spans import encode_spans

_scalars = (
    st.text(max_size=20)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
)
_values = (
    _scalars
    | st.lists(st.text(max_size=5), max_size=3)
    | st.lists(st.integers(min_value=-5, max_value=2**40), max_size=3)
)
_attributes = st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=6)


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _provider(resource: dict[str, Any]) -> tuple[TracerProvider, _Keep]:
    kept = _Keep()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    return provider, kept


def _same(spans: Sequence[ReadableSpan]) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    theirs = ExportTraceServiceRequest.FromString(library_encode(spans).SerializeToString())
    assert ours == theirs


@settings(max_examples=60, deadline=None)
@given(
    attributes=_attributes,
    event_attributes=_attributes,
    kind=st.sampled_from(list(SpanKind)),
    error=st.booleans(),
)
def test_a_span_with_any_attributes_encodes_as_the_library_does(
    attributes: dict[str, Any], event_attributes: dict[str, Any], kind: SpanKind, error: bool
) -> None:
    provider, kept = _provider({"service.name": "test"})
    tracer = provider.get_tracer("export_ledger", "1.0", attributes={"scope": "x"})
    with tracer.start_as_current_span("outer", kind=kind, attributes=attributes) as outer:
        outer.add_event("happened", event_attributes)
        if error:
            outer.set_status(Status(StatusCode.ERROR, "it broke"))
        with tracer.start_as_current_span("inner"):
            pass
    _same(kept.spans)


def test_remote_parents_trace_state_links_and_several_resources_and_scopes() -> None:
    first, kept_first = _provider({"service.name": "one"})
    second, kept_second = _provider({"service.name": "two", "deployment": 3})
    remote = SpanContext(
        trace_id=0x1234,
        span_id=0x99,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value")]),
    )
    context = set_span_in_context(NonRecordingSpan(remote))
    link = Link(remote, {"why": "because"})
    a = first.get_tracer("a")
    b = first.get_tracer("b", schema_url="https://example.org/schema")
    with a.start_as_current_span("from remote", context=context, links=[link]):
        with b.start_as_current_span("child", kind=SpanKind.CLIENT):
            pass
    with second.get_tracer("a").start_as_current_span("elsewhere") as span:
        span.set_status(Status(StatusCode.OK))
    with a.start_as_current_span("again"):
        pass
    _same([*kept_first.spans[:2], *kept_second.spans, *kept_first.spans[2:]])


def test_attribute_bytes_kept_for_one_span_are_not_reused_for_another_type() -> None:
    provider, kept = _provider({})
    tracer = provider.get_tracer("t")
    for value in (True, 1, 1.0, "1", (1,), ("1",)):
        with tracer.start_as_current_span("s", attributes={"k": value}):
            pass
    for span in kept.spans:
        _same([span])
    _same(kept.spans)
