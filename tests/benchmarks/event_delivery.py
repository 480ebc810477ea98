"""Webhook delivery and tracing, measured on a running server.

- ``sink lag``: commands recorded at 500/s (4 threads, paced, through the ledger) while
  ``export-ledger serve`` delivers every event to one webhook sink on loopback: events
  delivered per second against events recorded per second in the same run (target: it
  keeps up, >= 0.95x), and the p99 lag from an event's recorded time to its arrival at
  the receiver (target < 2 s).
- ``tracing``: ``POST /api/exports`` per second from 4 clients with tracing on (OTLP/HTTP
  to a collector on loopback that reads and drops the spans) against the same server
  with tracing off, each on a fresh server, in four rounds of both that alternate which
  goes first, so that a drift of the machine over the run (a warming cache, a growing
  table) falls on both alike (median; target >= 0.85x); and tracing off
  against no tracing: the no-op calls tracing leaves on a request's path when it is
  off (a command span, a log line's trace lookup), timed in process, against one
  request's time at the measured rate (target <= 0.02x).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import fresh_database, latency_ms, open_ledger, paced
from tests.e2e.cluster_load import served

NAME = "event_delivery"
SECONDS = {"small": 10, "full": 60}
RATE = 500.0
THREADS = 4
ROUNDS = 4  # in the order off on, on off, off on, on off
BODY = {"format": "csv", "config": {}, "conversation_count": 1}


def run(admin_url: str, scale: str) -> BenchResult:
    seconds = SECONDS[scale]
    details: dict[str, Any] = {"seconds": seconds}
    with fresh_database(admin_url, "bench_delivery") as url:
        with tempfile.TemporaryDirectory(prefix="el-bench-delivery-") as data:
            details["sink"] = _sink_lag(url, Path(data), seconds)
    with fresh_database(admin_url, "bench_tracing") as url:
        with tempfile.TemporaryDirectory(prefix="el-bench-tracing-") as data:
            details["tracing"] = _tracing(url, Path(data), max(seconds // 2, 5))
    details["tracing_off"] = _off_path_micros()
    return BenchResult(_figures(details), details)


# -- webhook delivery ---------------------------------------------------------------


@contextmanager
def _receiver() -> Iterator[tuple[str, list[tuple[float, str]]]]:
    """A sink target that keeps (arrival, recorded time) of each event it is sent."""
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            now = time.time()
            with lock:
                arrivals.extend((now, e["time"]) for e in json.loads(body))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


def _sink_lag(url: str, data: Path, seconds: int) -> dict[str, Any]:
    with _receiver() as (target, arrivals), served(url, data) as server:
        admin = server.headers("bench-admin", admin=True)
        sink = {"name": "bench", "url": target, "types": []}
        added = httpx.post(f"{server.base}/api/sinks", json=sink, headers=admin, timeout=30)
        added.raise_for_status()
        ledger = open_ledger(url, pool_size=THREADS)
        try:
            count = int(RATE * seconds / THREADS)
            started = time.perf_counter()
            workers = [
                threading.Thread(target=_commands, args=(ledger, n, count), daemon=True)
                for n in range(THREADS)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            recorded_seconds = time.perf_counter() - started
            recorded = count * THREADS
            deadline = time.monotonic() + 60
            while len(arrivals) < recorded and time.monotonic() < deadline:
                time.sleep(0.05)
            delivered_seconds = time.perf_counter() - started
        finally:
            ledger.close()
    lags = [max(at - datetime.fromisoformat(when).timestamp(), 0.0) for at, when in arrivals]
    return {
        "recorded": recorded,
        "recorded_per_second": recorded / recorded_seconds,
        "delivered": len(arrivals),
        "delivered_per_second": len(arrivals) / delivered_seconds,
        "lag": latency_ms(lags),
    }


def _commands(ledger: Any, n: int, count: int) -> None:
    for i in paced(RATE / THREADS, count):
        ledger.request_export(user_id=f"bench-{n}-{i % 100}", **BODY)


# -- tracing ------------------------------------------------------------------------


@contextmanager
def _collector() -> Iterator[str]:
    """An OTLP/HTTP endpoint that reads and drops what it is sent."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _tracing(url: str, data: Path, seconds: int) -> dict[str, Any]:
    rounds: dict[str, list[float]] = {"off": [], "on": []}
    with _collector() as endpoint:
        for n in range(ROUNDS):
            for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
                env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint} if mode == "on" else {}
                with served(url, data, **env) as server:
                    rounds[mode].append(_creates(server, seconds))
    return {
        mode: {"rounds": rates, "median": statistics.median(rates)}
        for mode, rates in rounds.items()
    }


def _creates(server: Any, seconds: int) -> float:
    """POST /api/exports per second from THREADS clients, after a short warm-up."""
    done = [0] * THREADS
    deadline: list[float] = []
    barrier = threading.Barrier(THREADS + 1, action=lambda: deadline.append(
        time.perf_counter() + seconds))  # fmt: skip

    def client(n: int) -> None:
        headers = server.headers(f"bench-client-{n}")
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            for _ in range(20):
                http.post("/api/exports", json=BODY).raise_for_status()
            barrier.wait()
            while time.perf_counter() < deadline[0]:
                http.post("/api/exports", json=BODY).raise_for_status()
                done[n] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def _off_path_micros() -> float:
    """What tracing leaves on a request's path when it is off, in microseconds: the
    command's span from the no-op tracer, and a log line's current-span lookup."""
    from opentelemetry import trace

    tracer = trace.get_tracer("export_ledger")
    rounds = 50_000
    started = time.perf_counter()
    for _ in range(rounds):
        with tracer.start_as_current_span("command request_export") as span:
            span.set_attribute("export.id", "exp_x")
        trace.get_current_span().get_span_context()
        trace.get_current_span().get_span_context()
    return (time.perf_counter() - started) / rounds * 1e6


def _figures(details: dict[str, Any]) -> list[Figure]:
    sink, tracing = details["sink"], details["tracing"]
    off, on = tracing["off"]["median"], tracing["on"]["median"]
    request_us = 1e6 * THREADS / off if off else float("nan")
    return [
        Figure(
            NAME,
            f"events delivered to a webhook sink, commands paced at {RATE:.0f}/s",
            sink["delivered_per_second"],
            "events/s",
            "events recorded",
            sink["recorded_per_second"],
            targets=(Target("ratio", ">=", 0.95, "x"),),
        ),
        Figure(
            NAME,
            "p99 lag, recorded to received",
            sink["lag"]["p99_ms"],
            "ms",
            "p50 lag",
            sink["lag"]["p50_ms"],
            targets=(Target("value", "<", 2000.0, "ms"),),
        ),
        Figure(
            NAME,
            f"POST /api/exports, {THREADS} clients, tracing on",
            on,
            "req/s",
            "tracing off",
            off,
            targets=(Target("ratio", ">=", 0.85, "x"),),
        ),
        Figure(
            NAME,
            "tracing off: its no-op calls on a request's path",
            details["tracing_off"],
            "us",
            "one request at the tracing-off rate",
            request_us,
            targets=(Target("ratio", "<=", 0.02, "x"),),
        ),
    ]
