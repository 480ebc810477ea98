"""``serve --workers 2``: one projector among the processes, and a takeover after kill -9.

Both workers answer on one port; exactly one holds the projector lock and
names itself in /readyz. Killing that worker with SIGKILL ends its database
session and so its lock: the other worker takes over, the read table catches
up, and nothing is projected twice (``rebuild --check`` and ``verify`` pass,
and no export has a version twice).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.cluster_load import Load, Served, cli, ledger_env, served, wait_caught_up

pytestmark = pytest.mark.slow


def _ready(server: Served) -> dict[str, object]:
    with httpx.Client(timeout=5) as client:  # a new connection: any worker may answer
        projection: dict[str, object] = client.get(server.base + "/readyz").json()["projection"]
        return projection


def _holder(server: Served, other_than: str | None = None, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = _ready(server).get("projected_by")
        if isinstance(holder, str) and holder != other_than:
            return holder
        time.sleep(0.2)
    raise AssertionError(f"no process took the projector lock (before: {other_than})")


def _answering(server: Served, count: int, timeout: float = 60) -> set[str]:
    """The processes that answer /readyz, once ``count`` distinct ones have."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            seen.append(str(_ready(server)["process"]))
        recent = set(seen[-40:])
        if len(recent) >= count:
            return recent
    raise AssertionError(f"fewer than {count} processes answer: {set(seen[-40:])}")


def test_one_worker_projects_and_another_takes_over_after_kill_9(
    database_url: str, tmp_path: Path
) -> None:
    with served(database_url, tmp_path, "--workers", "2") as server:
        first = _holder(server)
        assert len(_answering(server, 2)) == 2  # two processes answer on the port
        for _ in range(40):
            projection = _ready(server)
            running = projection["process"] == first
            assert projection["projector"] == ("running" if running else "external")
            assert projection["projected_by"] == first
        load = Load(server, clients=4).start()
        time.sleep(3)
        os.kill(int(first.rsplit(":", 1)[1]), signal.SIGKILL)
        second = _holder(server, other_than=first)
        time.sleep(3)
        load.stop()
        wait_caught_up(server)
        env = ledger_env(database_url, tmp_path, server.secret)
        rebuild = cli("rebuild", "--check", env=env)
        verify = cli("verify", env=env)
        status = cli("status", env=env | {"COLUMNS": "200"})
        after = _answering(server, 2)
    assert first not in after  # the killed worker was replaced by a new process
    assert second != first
    assert f"{second} (holds the projector lock)" in status.stdout, status.stdout
    assert rebuild.returncode == 0, rebuild.stderr
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert load.acknowledged()
    with psycopg.connect(database_url) as conn:
        twice = conn.execute(
            "SELECT export_id, version FROM export_log_versions GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
    assert twice == []
