"""Webhook sinks on a real server: a sink added while it runs starts delivering; across a
kill -9 of the server during delivery nothing is lost (in order after dedupe, each request
signed); with --workers 2 no attempt is sent twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.cluster_load import Served, cli, ledger_env, served
from tests.e2e.helpers import export_body
from tests.integration.sink_receiver import Receiver, receiving

pytestmark = pytest.mark.slow
CLAIMED = "domain.model:IdempotencyClaim.Claimed"


def create(server: Served, count: int) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for _ in range(count):
            response = client.post("/api/exports", json=export_body(), headers=server.headers())
            assert response.status_code == 201, response.text


def add_sink(server: Served, url: str, database_url: str, data_dir: Path) -> str:
    env = ledger_env(database_url, data_dir, server.secret)
    result = cli("sinks", "add", url, "--name", "siem", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("secret (shown once): ")[1].strip()


def positions_after(url: str, after: int) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id FROM exportledger_events WHERE notification_id > %s"
            " AND topic <> %s ORDER BY notification_id",
            (after, CLAIMED),
        ).fetchall()
    return [int(r[0]) for r in rows]


def wait_delivered(receiver: Receiver, expected: list[int], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while receiver.delivered_ids() != expected:
        assert time.monotonic() < deadline, (len(receiver.delivered_ids()), len(expected))
        time.sleep(0.2)


def test_delivery_survives_kill_9_of_the_server(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver(fail_ratio=0.3, hang_ratio=0.05)
    with receiving(receiver) as url:
        with served(database_url, tmp_path) as first:
            create(first, 3)  # before the sink: not sent
            head = max(positions_after(database_url, 0))
            receiver.secret = add_sink(first, url, database_url, tmp_path)
            create(first, 10)
            deadline = time.monotonic() + 60
            while not receiver.requests:  # delivery has begun
                assert time.monotonic() < deadline, "nothing delivered"
                time.sleep(0.05)
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=30)
        with served(database_url, tmp_path) as second:
            create(second, 5)
            expected = positions_after(database_url, head)
            wait_delivered(receiver, expected)
    assert receiver.bad_signatures == 0 and len(expected) == 15


def test_two_workers_send_no_attempt_twice(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver(fail_ratio=0.3)
    with receiving(receiver) as url, served(database_url, tmp_path, "--workers", "2") as server:
        receiver.secret = add_sink(server, url, database_url, tmp_path)
        start = sink_start(database_url)
        create(server, 12)
        wait_delivered(receiver, positions_after(database_url, start))
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT webhook_id, count(*) FROM event_sink_deliveries GROUP BY webhook_id"
        ).fetchall()
    attempts = {str(r[0]): int(r[1]) for r in rows}
    sent: dict[str, int] = {}
    for request in receiver.requests:
        sent[request.webhook_id] = sent.get(request.webhook_id, 0) + 1
    assert all(count <= attempts[webhook_id] for webhook_id, count in sent.items())


def sink_start(url: str) -> int:
    """The position the sink was added at (it gets the events after it)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT cursor FROM event_sinks WHERE name = 'siem'").fetchone()
    assert row is not None
    return int(row[0])
