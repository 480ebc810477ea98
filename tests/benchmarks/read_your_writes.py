"""Read-your-writes: what waiting for the head of the log costs a read.

A strong read (the default) reflects every command acknowledged before it: a list
asks the primary for the log's head when it begins and waits until the read table
has reached it, or, for a user who is not an admin, only until it has reached the
latest event up to that head that concerns the user (found by the subject
pseudonym every export event carries); a get asks for the export's own latest
event (all its row depends on) and waits for that. An eventual read
(``consistency=eventual``) answers from whatever the read table holds. Measured
from one sequential HTTP client against ``export-ledger serve --no-projector``,
with ``export-ledger project`` following in its own process, while four writer
processes run paced commands (request, start, complete) at 500 commands/s in all
(the follower_lag benchmark's writers, for random users), then again with no
writes: p50 and p99 of a user's first list page, of one export's get and of an
admin's first list page, strong against eventual, the modes taking turns request
by request.

An admin's strong list still waits for the head, so its tail is the follower's
under load (its batches, on two cores shared with the writers), not the query's;
the user's list, whose caller has no commands in the tail, pays only for reading
the head and the tail.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.benchmarks.api_lists import SECRET, _serve, _token
from tests.benchmarks.follower_lag import RATE, WRITERS, _paced_writers
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.seeded import seeded_database
from tests.benchmarks.support import (
    latency_ms,
    start_cli,
)

NAME = "read_your_writes"
SCALES = {"small": (5_000, 200), "full": (100_000, 2_000)}  # exports, users
WRITE_SECONDS = {"small": 8.0, "full": 30.0}
QUIET_READS = {"small": 300, "full": 2_000}  # per mode and kind, with no writes
Kind = str
Mode = str


def run(admin_url: str, scale: str) -> BenchResult:
    exports, users = SCALES[scale]
    with seeded_database(admin_url, "bench_ryw", exports, users) as (url, data):
        details_set = data.describe()
        user, export_id = _busiest_user(url)
        port = _free_port()
        follower = start_cli(["project", "--no-seal"], url)
        try:
            with _serve(url, port, {"EXPORT_LEDGER_JWT_SECRET": SECRET}):
                token = _token(url, user, admin=False)
                admin = _token(url, "bench-admin", admin=True)
                reads = _Reader(f"http://127.0.0.1:{port}", token, admin, export_id)
                busy = _while_writing(url, reads, WRITE_SECONDS[scale])
                quiet = reads.rounds(QUIET_READS[scale])
        finally:
            follower.terminate()
            follower.wait(timeout=30)
    return BenchResult(
        _figures(busy, quiet), {"data_set": details_set, "under_writes": busy, "no_writes": quiet}
    )


class _Reader:
    """One keep-alive client; each call times one request of each (kind, mode)."""

    def __init__(self, base: str, token: str, admin: str, export_id: str) -> None:
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        self.paths: dict[Kind, str] = {
            "list": "/api/exports?limit=25",
            "get": f"/api/exports/{export_id}",
            "admin list": "/api/exports?limit=25",
        }
        self.headers: dict[Kind, dict[str, str]] = {
            "admin list": {"Authorization": f"Bearer {admin}"}
        }
        self.times: dict[tuple[Kind, Mode], list[float]] = {}

    def one_round(self) -> None:
        for kind, path in self.paths.items():
            for mode in ("strong", "eventual"):
                sep = "&" if "?" in path else "?"
                url = path if mode == "strong" else f"{path}{sep}consistency=eventual"
                started = time.perf_counter()
                response = self.client.get(url, headers=self.headers.get(kind))
                took = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text}")
                self.times.setdefault((kind, mode), []).append(took)

    def rounds(self, count: int) -> dict[str, Any]:
        self.times = {}
        for _ in range(count):
            self.one_round()
        return self.summary()

    def until(self, done: Callable[[], bool]) -> dict[str, Any]:
        self.times = {}
        while not done():
            self.one_round()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {f"{kind} {mode}": latency_ms(t) for (kind, mode), t in self.times.items()}


def _while_writing(url: str, reads: _Reader, seconds: float) -> dict[str, Any]:
    """Reads taking turns for as long as the paced writers write."""
    started = threading.Event()
    finished = threading.Event()
    sent: list[Any] = []

    def write() -> None:
        try:
            sent.extend(
                _paced_writers(url, "ledger", int(RATE * seconds), lambda _: started.set(), WRITERS)
            )
        finally:
            started.set()
            finished.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    started.wait(timeout=180)
    began = time.monotonic()
    summary = reads.until(finished.is_set)
    writer.join(timeout=60)
    span = time.monotonic() - began
    return summary | {"writes": len(sent), "achieved_rate": len(sent) / span if span else 0.0}


def _figures(busy: dict[str, Any], quiet: dict[str, Any]) -> list[Figure]:
    rate = busy["achieved_rate"]
    figures = []
    for kind in ("list", "get", "admin list"):
        for q in ("p50", "p99"):
            targets = (Target("ratio", "<=", 2.0),) if (kind, q) == ("list", "p99") else ()
            figures.append(
                Figure(
                    NAME,
                    f"{kind} {q}, strong read, {rate:.0f} commands/s",
                    busy[f"{kind} strong"][f"{q}_ms"],
                    "ms",
                    "eventual read, same load",
                    busy[f"{kind} eventual"][f"{q}_ms"],
                    targets=targets,
                )
            )
        figures.append(
            Figure(
                NAME,
                f"{kind} p99, strong read, no writes",
                quiet[f"{kind} strong"]["p99_ms"],
                "ms",
                "eventual read, no writes",
                quiet[f"{kind} eventual"]["p99_ms"],
            )
        )
    return figures


def _busiest_user(url: str) -> tuple[str, str]:
    """The user with the most exports (the longest list), and one of their exports."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT user_id, min(export_id) FROM export_logs GROUP BY user_id "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
