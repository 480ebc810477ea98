"""/metrics and the JSON log lines of requests and commands."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.wiring.logs import JsonFormatter
from tests.e2e.helpers import ADMIN, USER_A, Api


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Our request and command loggers, as JSON lines, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    loggers = [
        logging.getLogger(name) for name in ("export_ledger.request", "export_ledger.command")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield buffer
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition text, None when absent."""
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return None


def test_metrics_count_commands_requests_and_positions(api: Api, client: TestClient) -> None:
    export_id = api.create()["export_id"]
    position = api.advance(export_id, "processing")
    refused = api.patch(export_id, {"status": "queued"}, ADMIN)
    assert refused.status_code == 409
    assert api.get(export_id, USER_A, min_position=position).status_code == 200

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "export_ledger_commands_total", command="request_export", outcome="ok") == 1
    assert sample(text, "export_ledger_commands_total", command="start_processing") == 1
    assert sample(
        text, "export_ledger_commands_total", command="retry", outcome="IllegalTransition"
    )
    route = "/api/exports/{export_id}"
    count = sample(
        text, "export_ledger_http_request_duration_seconds_count", method="GET", route=route
    )
    assert count == 1
    assert sample(text, "export_ledger_http_requests_total", route=route, status="409") == 1
    assert sample(text, "export_ledger_head_position") == position
    assert sample(text, "export_ledger_projection_position") == position
    assert sample(text, "export_ledger_projection_lag_events") == 0
    for name in ("export_ledger_sealer_position", "export_ledger_sealer_lag_events"):
        assert sample(text, name) is not None
    assert "# TYPE export_ledger_job_events_done gauge" in text
    assert f"/api/exports/{export_id}" not in text  # labels are route templates, not paths


def test_request_and_command_log_lines(
    api: Api, client: TestClient, log_lines: io.StringIO
) -> None:
    response = client.post(
        "/api/exports",
        json={"format": "csv", "config": {}, "conversation_count": 1},
        headers={**USER_A, "X-Request-ID": "req-42"},
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-42"
    export_id, position = response.json()["export_id"], int(response.headers["X-Ledger-Position"])
    lines = parsed(log_lines)
    command = next(line for line in lines if line["logger"] == "export_ledger.command")
    assert command["command"] == "request_export" and command["outcome"] == "ok"
    assert command["export_id"] == export_id and command["position"] == position
    request = next(line for line in lines if line["logger"] == "export_ledger.request")
    assert request["request_id"] == "req-42"
    assert request["user"] == "user-a"
    assert request["route"] == "/api/exports" and request["method"] == "POST"
    assert request["status"] == 201 and request["latency_ms"] > 0
    assert {"time", "level", "message"} <= set(request)


def test_request_ids_are_made_when_missing_or_odd(
    client: TestClient, log_lines: io.StringIO
) -> None:
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    odd = client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["X-Request-ID"]
    assert odd != "a b\tc" and re.fullmatch(r"[0-9a-f]{32}", odd)
    unmatched = client.get("/no/such/path")
    assert unmatched.status_code == 404
    last = parsed(log_lines)[-1]
    assert last["route"] == "unmatched" and last["user"] is None and last["status"] == 404


def test_console_jobs_report_progress(client: TestClient) -> None:
    from tests.e2e.console.test_ui_pages import csrf_of, sign_in

    sign_in(client, "admin-1", admin=True)
    page = client.get("/ui/ledger")
    client.post("/ui/ledger/jobs", data={"job": "verify", "csrf": csrf_of(page.text)})
    for _ in range(100):
        text = client.get("/metrics").text
        if sample(text, "export_ledger_job_running", job="verify") == 0:
            break
        time.sleep(0.1)
    assert sample(text, "export_ledger_job_events_total", job="verify") is not None
    page = client.get("/ui/ledger")
    assert "the ledger matches its events, seals and signatures" in page.text
