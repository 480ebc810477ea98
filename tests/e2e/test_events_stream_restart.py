"""A stream reader across a kill -9 and a restart of the server: it reconnects with
Last-Event-ID and ends with every stored event exactly once, in position order."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.wiring.auth import issue_token
from tests.e2e.cluster_load import Served, served
from tests.e2e.helpers import export_body
from tests.e2e.stream_reader import messages

pytestmark = pytest.mark.slow
URL = "/api/events/stream"


class Resuming:
    """Reads the stream, reconnecting to the current server with Last-Event-ID."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.ids: list[int] = []
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="resuming-reader")

    def _run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                self._read(self.server)
            self.stop.wait(0.2)

    def _read(self, server: Served) -> None:
        headers = {
            "Authorization": f"Bearer {issue_token(server.secret, 'auditor-1', auditor=True)}",
            "Last-Event-ID": str(self.ids[-1] if self.ids else 0),
        }
        timeout = httpx.Timeout(5, read=10)
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("GET", server.base + URL, headers=headers) as response,
        ):
            if response.status_code != 200:
                return
            self.connections += 1
            for message in messages(response.iter_lines()):
                assert message.id is not None
                self.ids.append(int(message.id))
                if self.stop.is_set():
                    return


def create(server: Served, count: int) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for _ in range(count):
            response = client.post("/api/exports", json=export_body(), headers=server.headers())
            assert response.status_code == 201, response.text


def streamed_positions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id FROM exportledger_events"
            " WHERE topic <> 'domain.model:IdempotencyClaim.Claimed' ORDER BY notification_id"
        ).fetchall()
    return [int(r[0]) for r in rows]


def wait_for(reader: Resuming, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(reader.ids) < count:
        assert time.monotonic() < deadline, f"{len(reader.ids)} of {count} events streamed"
        time.sleep(0.1)


def test_a_reader_resumes_across_kill_9_with_every_event_once(
    database_url: str, tmp_path: Path
) -> None:
    extra: dict[str, Any] = {"EXPORT_LEDGER_EVENTS_HEARTBEAT_SECONDS": "0.5"}
    with served(database_url, tmp_path, **extra) as first:
        create(first, 5)
        reader = Resuming(first)
        reader.thread.start()
        wait_for(reader, 5)
        create(first, 5)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
    with served(database_url, tmp_path, **extra) as second:
        reader.server = second
        create(second, 5)
        wait_for(reader, len(streamed_positions(database_url)))
        reader.stop.set()
        reader.thread.join(timeout=30)
    assert reader.ids == streamed_positions(database_url)
    assert len(reader.ids) == 15 and reader.connections >= 2
