"""Prometheus metrics of one app, in a registry of its own (made at start-up, not import).

The domain knows nothing of them: commands are counted by wrapping the
ledger's command methods at the API layer (:func:`observe_commands`), requests
by the :class:`RequestLog` middleware, ledger positions when ``/metrics`` is
scraped, and background jobs (rebuild, verify) through :meth:`Metrics.job`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from domain.exports.ids import is_export_id
from domain.exports.views import ExportState
from domain.ledger.application import ExportLedger
from projections.importing.sync_status import SyncLag
from projections.reads.positions import LedgerPositions
from projections.tlog.witnessing import Report

CONTENT_TYPE = CONTENT_TYPE_LATEST
COMMANDS = (
    "request_export",
    "start_processing",
    "complete",
    "fail",
    "retry",
    "record_download",
    "expire",
    "delete",
    "expire_due",
)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
command_log = logging.getLogger("export_ledger.command")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "export_ledger_commands", "Commands run, by type and outcome.",
            ["command", "outcome"], registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "export_ledger_http_requests", "HTTP requests, by route template and status.",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "export_ledger_http_request_duration_seconds", "Request latency by route template.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.head = Gauge("export_ledger_head_position", "Latest log position.", registry=r)
        self.projected = Gauge(
            "export_ledger_projection_position", "Log position export_logs includes.", registry=r
        )
        self.projection_lag = Gauge(
            "export_ledger_projection_lag_events", "Events not yet in export_logs.", registry=r
        )
        self.sealed = Gauge(
            "export_ledger_sealer_position", "Log position the Merkle tree includes.", registry=r
        )
        self.seal_lag = Gauge(
            "export_ledger_sealer_lag_events", "Events not yet sealed.", registry=r
        )
        self.checkpoint = Gauge(
            "export_ledger_checkpoint_tree_size", "Leaves of the latest checkpoint.", registry=r
        )
        self.witness_size = Gauge(
            "export_ledger_witness_cosigned_tree_size", "Largest checkpoint a witness cosigned.",
            ["witness"], registry=r,
        )  # fmt: skip
        self.witness_lag = Gauge(
            "export_ledger_witness_lag_leaves", "Leaves of the latest checkpoint a witness has "
            "not cosigned.", ["witness"], registry=r,
        )  # fmt: skip
        self.witnessed = Gauge(
            "export_ledger_checkpoint_witnessed",
            "1 when the latest checkpoint has the cosignatures the witness policy asks for.",
            registry=r,
        )
        self.job_done = Gauge(
            "export_ledger_job_events_done", "Events a rebuild or verify has read so far.",
            ["job"], registry=r,
        )  # fmt: skip
        self.job_total = Gauge(
            "export_ledger_job_events_total", "Events a rebuild or verify will read.",
            ["job"], registry=r,
        )  # fmt: skip
        self.job_running = Gauge(
            "export_ledger_job_running", "1 while a rebuild or verify runs.", ["job"], registry=r
        )
        self.sink_lag = Gauge(
            "export_ledger_sink_lag_positions", "Positions after a webhook sink's cursor.",
            ["sink"], registry=r,
        )  # fmt: skip
        self.sink_attempts = Gauge(
            "export_ledger_sink_failed_attempts", "Failed attempts of a sink's current batch.",
            ["sink"], registry=r,
        )  # fmt: skip
        self.sink_failing = Gauge(
            "export_ledger_sink_failing", "1 while a webhook sink is marked failing.", ["sink"],
            registry=r,
        )  # fmt: skip

        self.sync_lag_bytes = Gauge(
            "export_ledger_sync_lag_bytes",
            "WAL bytes a live sync's stored position is behind its source.", ["slot"], registry=r,
        )  # fmt: skip
        self.sync_lag_seconds = Gauge(
            "export_ledger_sync_lag_seconds",
            "Seconds from the source's commit to the ledger's, for the last change applied.",
            ["slot"], registry=r,
        )  # fmt: skip

    def observe_syncs(self, syncs: Iterable[SyncLag]) -> None:
        for sync in syncs:
            self.sync_lag_bytes.labels(sync.slot).set(sync.lag_bytes or 0)
            self.sync_lag_seconds.labels(sync.slot).set(sync.lag_seconds or 0.0)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_positions(self, positions: LedgerPositions) -> None:
        self.head.set(positions.head)
        self.projected.set(positions.projected)
        self.projection_lag.set(max(positions.head - positions.projected, 0))
        self.sealed.set(positions.sealed)
        self.seal_lag.set(max(positions.head - positions.sealed, 0))
        self.checkpoint.set(positions.checkpoint_size)

    def observe_witnesses(self, found: Report) -> None:
        for w in found.witnesses:
            self.witness_size.labels(w.name).set(w.cosigned_size)
            self.witness_lag.labels(w.name).set(w.lag)
        self.witnessed.set(1 if found.witnessed else 0)

    def observe_sinks(self, sinks: list[tuple[str, str, int, int]]) -> None:
        """(name, state, lag, attempts) of every sink."""
        for name, state, lag, attempts in sinks:
            self.sink_lag.labels(name).set(lag)
            self.sink_attempts.labels(name).set(attempts)
            self.sink_failing.labels(name).set(1 if state == "failing" else 0)

    def job(self, name: str) -> JobProgress:
        for gauge in (self.job_done, self.job_total):
            gauge.labels(name).set(0)
        return JobProgress(self, name)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class JobProgress:
    """``on_total``/``on_events`` callbacks (as rebuild and verify take) feeding the gauges."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self.done = metrics.job_done.labels(name)
        self.total = metrics.job_total.labels(name)
        self.running = metrics.job_running.labels(name)

    def __enter__(self) -> JobProgress:
        self.running.set(1)
        return self

    def __exit__(self, *_: object) -> None:
        self.running.set(0)

    def on_total(self, total: int) -> None:
        self.total.set(total)

    def on_events(self, n: int) -> None:
        self.done.inc(n)


_tracer = trace.get_tracer("export_ledger.commands")


def observe_commands(ledger: ExportLedger, metrics: Metrics) -> ExportLedger:
    """Counts and logs every command the ledger runs, replacing its command methods
    on this instance only."""
    for name in COMMANDS:
        setattr(ledger, name, _observed(name, getattr(ledger, name), metrics))
    return ledger


def _observed(name: str, method: Callable[..., Any], metrics: Metrics) -> Callable[..., Any]:
    @functools.wraps(method)
    def observed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        target = args[0] if args and isinstance(args[0], str) else None
        with _tracer.start_as_current_span(f"command {name}") as span:
            if target is not None and is_export_id(target):  # never a user id
                span.set_attribute("export.id", target)
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                _record(metrics, name, type(error).__name__, started, target, None)
                raise
            if isinstance(result, ExportState):
                span.set_attribute("export.id", result.export_id)
        if isinstance(result, ExportState):
            _record(metrics, name, "ok", started, result.export_id, result.position)
        else:
            _record(metrics, name, "ok", started, target, None, result=result)
        return result

    return observed


def _record(
    metrics: Metrics,
    command: str,
    outcome: str,
    started: float,
    export_id: str | None,
    position: int | None,
    **more: Any,
) -> None:
    metrics.commands.labels(command, outcome).inc()
    fields = {
        "command": command,
        "outcome": outcome,
        "export_id": export_id,
        "position": position,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        **more,
    }
    command_log.info("%s %s", command, outcome, extra={"fields": fields})
