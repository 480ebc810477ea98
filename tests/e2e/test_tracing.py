"""OpenTelemetry: a server with OTEL_EXPORTER_OTLP_ENDPOINT set sends its spans to a real
OTLP/HTTP receiver (an HTTP server decoding the protobuf): a request's span is the parent
of its SQL spans, the projector's batches and seals are spans of their own, no span
carries a user id, and the JSON log lines carry the trace id.
Without the variable, nothing is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from api.http.tracing import scrub
from tests.e2e.cluster_load import served

pytestmark = pytest.mark.slow
SECRET_USER = "secret-user-4711"


class Collector:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.spans: list[Any] = []
        self.lock = threading.Lock()

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            self.bodies.append(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.extend(scope.spans)


@contextmanager
def collecting() -> Iterator[tuple[str, Collector]]:
    collector = Collector()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            assert self.path == "/v1/traces"
            assert self.headers["content-type"] == "application/x-protobuf"
            collector.take(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", collector
    finally:
        server.shutdown()
        server.server_close()


def attribute(span: Any, name: str) -> Any:
    for item in span.attributes:
        if item.key == name:
            return getattr(item.value, item.value.WhichOneof("value"))
    return None


def test_scrub_removes_user_ids() -> None:
    assert scrub("/api/subjects/alice/report") == "/api/subjects/{user_id}/report"
    assert scrub("user_id=alice&limit=5") == "user_id=[scrubbed]&limit=5"
    assert scrub("http://h/api/exports?status=x&user_id=al%20ice") == (
        "http://h/api/exports?status=x&user_id=[scrubbed]"
    )


def test_a_requests_spans_reach_the_collector_with_sql_children(
    database_url: str, tmp_path: Path
) -> None:
    with collecting() as (endpoint, collector):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
               "OTEL_SERVICE_NAME": "ledger-under-test"}  # fmt: skip
        with served(database_url, tmp_path, **env) as server:
            admin = server.headers("admin-1", admin=True)
            with httpx.Client(base_url=server.base, timeout=30) as client:
                body = {"format": "csv", "config": {}, "conversation_count": 1}
                user = server.headers(SECRET_USER)
                created = client.post("/api/exports", json=body, headers=user)
                assert created.status_code == 201, created.text
                listed = client.get(f"/api/exports?user_id={SECRET_USER}", headers=admin)
                assert listed.status_code == 200
                report = client.get(f"/api/subjects/{SECRET_USER}/report", headers=admin)
                assert report.status_code == 200
            wanted = {"GET /api/subjects/{user_id}/report", "follower batch", "seal"}
            deadline = time.monotonic() + 60
            while not wanted <= {s.name for s in collector.spans}:
                assert time.monotonic() < deadline, [s.name for s in collector.spans]
                time.sleep(0.1)
        log = server.log.read_text()
    spans = list(collector.spans)
    by_id = {s.span_id: s for s in spans}
    route = next(s for s in spans if s.name == "GET /api/exports")
    sql = [s for s in spans if s.trace_id == route.trace_id and attribute(s, "db.system")]
    assert sql, "no SQL span in the request's trace"
    for span in sql:
        parent = span
        while parent.parent_span_id and parent.parent_span_id in by_id:
            parent = by_id[parent.parent_span_id]
        assert parent.span_id == route.span_id
    assert all(SECRET_USER.encode() not in body for body in collector.bodies)
    polling = [s.name for s in spans if attribute(s, "db.system") and not s.parent_span_id]
    assert not polling, polling  # SQL outside any request or batch is not traced
    for name in ("follower batch", "seal"):  # the projector's work, as spans of its own
        assert all(attribute(s, "ledger.events") >= 1 for s in spans if s.name == name)
    command = next(s for s in spans if s.name == "command request_export")
    assert attribute(command, "export.id") == created.json()["export_id"]
    trace_ids = {json.loads(line).get("trace_id") for line in log.splitlines()
                 if line.startswith("{")}  # fmt: skip
    assert route.trace_id.hex() in trace_ids


def test_nothing_is_traced_without_an_endpoint(database_url: str, tmp_path: Path) -> None:
    with served(database_url, tmp_path) as server:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            assert client.get("/api/exports", headers=server.headers()).status_code == 200
    log = server.log.read_text()
    assert '"trace_id"' not in log
