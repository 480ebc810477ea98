"""Spans as an OTLP/HTTP protobuf body, written straight to the wire format.

The exporter's own encoder builds a protobuf object per span, attribute and value
before it serialises them: about 35 us per request span here, most of what tracing
costs a request. :func:`encode_spans` writes the same message, an
``opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest``, as bytes, and
keeps the bytes of attributes it has seen (a route, a method, a statement's text
recur on every request), so a span costs a few microseconds. The tests parse its
output with the official message classes and compare it with the exporter's own.

The wire format (protobuf encoding; every field is ``tag = field << 3 | wire type``,
a varint; wire type 0 is a varint, 1 eight little-endian bytes, 2 a varint length
and that many bytes, 5 four little-endian bytes; a field at its default value is
left out)::

    ExportTraceServiceRequest  1: ResourceSpans (repeated)
    ResourceSpans              1: Resource  2: ScopeSpans (repeated)  3: schema_url
    Resource                   1: KeyValue (repeated)
    ScopeSpans                 1: InstrumentationScope  2: Span (repeated)  3: schema_url
    InstrumentationScope       1: name  2: version  3: KeyValue (repeated)
    Span                       1: trace_id (16 bytes)  2: span_id (8)  3: trace_state
                               4: parent_span_id (8)  5: name  6: kind (varint)
                               7: start_time_unix_nano (fixed64)  8: end_time (fixed64)
                               9: KeyValue (repeated)  10: dropped_attributes_count
                               11: Event (repeated)  12: dropped_events_count
                               13: Link (repeated)  14: dropped_links_count
                               15: Status  16: flags (fixed32)
    Event                      1: time_unix_nano (fixed64)  2: name  3: KeyValue (repeated)
                               4: dropped_attributes_count
    Link                       1: trace_id  2: span_id  4: KeyValue (repeated)
                               5: dropped_attributes_count  6: flags (fixed32)
    Status                     2: message  3: code (varint: 0 unset, 1 ok, 2 error)
    KeyValue                   1: key  2: AnyValue
    AnyValue                   one of 1: string  2: bool  3: int64 (two's complement
                               varint)  4: double (fixed64)  5: ArrayValue
                               6: KeyValueList  7: bytes
    ArrayValue, KeyValueList   1: AnyValue / KeyValue (repeated)

Span kinds are the SDK's plus one (internal 1, server 2, client 3, producer 4,
consumer 5). ``flags`` says whether the parent is remote, as the SDK's encoder does:
0x100 always (the bit is known), 0x200 when the parent is remote. A link's trace
state is left out, as the SDK's encoder leaves it out.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_FLAGS_HAS_IS_REMOTE, _FLAGS_IS_REMOTE = 0x100, 0x200
_CACHE_LIMIT = 4096
_attribute_bytes: dict[tuple[int, str, type, Any], bytes] = {}
_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack
_double = struct.Struct("<d").pack


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _text(field: int, text: str | None) -> bytes:
    return _bytes_field(field, text.encode()) if text else b""


def _count(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n) if n else b""


def _value(value: Any) -> bytes:
    """An AnyValue's fields (None is an empty AnyValue)."""
    kind = type(value)
    if kind is str:
        return _bytes_field(1, value.encode())
    if value is None:
        return b""
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)
    if kind is float:
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _bytes_field(7, value)
    if isinstance(value, str):  # a subclass (an enum's member, say)
        return _bytes_field(1, value.encode())
    if isinstance(value, int):  # a subclass (bool has none)
        return _value(int(value))
    if isinstance(value, float):
        return _value(float(value))
    if isinstance(value, Sequence):
        return _bytes_field(5, b"".join(_bytes_field(1, _value(v)) for v in value))
    if isinstance(value, Mapping):
        pairs = b"".join(_bytes_field(1, _key_value(str(k), v)) for k, v in value.items())
        return _bytes_field(6, pairs)
    raise TypeError(f"an attribute value of type {kind.__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return _bytes_field(1, key.encode()) + _bytes_field(2, _value(value))


def _attributes(field: int, attributes: Attributes) -> bytes:
    """Each attribute as a repeated KeyValue field, its bytes kept for the next span
    that carries the same one (the type is part of the key: ``True == 1``)."""
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        kept = (field, key, type(value), value)
        try:
            encoded = _attribute_bytes[kept]
        except KeyError:
            encoded = _bytes_field(field, _key_value(key, value))
            if len(_attribute_bytes) >= _CACHE_LIMIT:
                _attribute_bytes.clear()
            _attribute_bytes[kept] = encoded
        except TypeError:  # a value that cannot be a key (a list in a tuple, say)
            encoded = _bytes_field(field, _key_value(key, value))
        out.append(encoded)
    return b"".join(out)


def _trace_state(field: int, state: TraceState | None) -> bytes:
    return _text(field, ",".join(f"{k}={v}" for k, v in state.items())) if state else b""


def _flags(field: int, parent: SpanContext | None) -> bytes:
    flags = _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent and parent.is_remote else 0)
    return _varint(field << 3 | 5) + _fixed32(flags)


def _event(event: Event) -> bytes:
    return (
        b"\x09" + _fixed64(event.timestamp)
        + _text(2, event.name)
        + _attributes(3, event.attributes)
        + _count(4, event.dropped_attributes)
    )  # fmt: skip


def _link(link: Link) -> bytes:
    context = link.context
    return (
        _bytes_field(1, context.trace_id.to_bytes(16, "big"))
        + _bytes_field(2, context.span_id.to_bytes(8, "big"))
        + _attributes(4, link.attributes)
        + _count(5, getattr(link, "dropped_attributes", 0))
        + _flags(6, context)
    )


_UNSET_STATUS = _bytes_field(15, b"")


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None
    parent = span.parent
    parts = [
        b"\x0a\x10", context.trace_id.to_bytes(16, "big"),
        b"\x12\x08", context.span_id.to_bytes(8, "big"),
    ]  # fmt: skip
    if context.trace_state:
        parts.append(_trace_state(3, context.trace_state))
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts += (
        _text(5, span.name),
        _count(6, span.kind.value + 1),
        b"\x39", _fixed64(span.start_time or 0),
        b"\x41", _fixed64(span.end_time or 0),
        _attributes(9, span.attributes),
        _count(10, span.dropped_attributes),
    )  # fmt: skip
    if span.events:
        parts += [_bytes_field(11, _event(e)) for e in span.events]
    parts.append(_count(12, span.dropped_events))
    if span.links:
        parts += [_bytes_field(13, _link(link)) for link in span.links]
    parts.append(_count(14, span.dropped_links))
    status = span.status
    if status.description or status.status_code.value:
        parts.append(_bytes_field(15, _text(2, status.description)
                                  + _count(3, status.status_code.value)))  # fmt: skip
    else:
        parts.append(_UNSET_STATUS)
    parts.append(_flags(16, parent))
    return b"".join(parts)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    return _text(1, scope.name) + _text(2, scope.version) + _attributes(3, scope.attributes)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The request body for ``spans``: grouped by resource, then by instrumentation
    scope, each group in the order its first span came (as the SDK's encoder does)."""
    groups: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
    last: tuple[Resource | None, dict[InstrumentationScope | None, list[bytes]]] = (None, {})
    for span in spans:
        resource = span.resource
        if resource is not last[0]:  # a resource hashes by writing its attributes as JSON
            last = (resource, groups.setdefault(resource, {}))
        last[1].setdefault(span.instrumentation_scope or None, []).append(_span(span))
    body = []
    for resource, scopes in groups.items():
        scope_spans = b"".join(
            _bytes_field(
                2,
                _bytes_field(1, _scope(scope))
                + b"".join(_bytes_field(2, s) for s in encoded)
                + _text(3, scope.schema_url if scope else None),
            )
            for scope, encoded in scopes.items()
        )
        resource_spans = (
            _bytes_field(1, _attributes(1, resource.attributes))
            + scope_spans
            + _text(3, resource.schema_url)
        )
        body.append(_bytes_field(1, resource_spans))
    return b"".join(body)
