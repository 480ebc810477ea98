"""A real ``export-ledger serve`` process and a write load of many clients, for the HA tests.

Every command a client sends carries a fresh reference in its config (a create)
or names the export it moves on (a PATCH), and nothing is retried: so after a
failover, what got a 2xx can be looked up in the log, and anything found
twice was recorded twice by the server.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.wiring.auth import issue_token
from domain.tlog.merkle import verify_consistency
from tests.integration.standby import free_port

COMPLETION = {
    "status": "completed",
    "file_size": 1024,
    "file_url": "https://storage.example.com/exports/file.jsonl",
    "expires_at": "2099-01-01T00:00:00Z",
}


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    secret: str
    log: Path

    def headers(self, user: str = "load-user", *, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.secret, user, admin=admin)}"}


def ledger_env(url: str, data_dir: Path, secret: str, **extra: str) -> dict[str, str]:
    """The environment of a server or a command on ``url`` (no setting of this shell leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_LEDGER_")}
    env.update(
        EXPORT_LEDGER_DATABASE_URL=url,
        EXPORT_LEDGER_DATA_DIR=str(data_dir),
        EXPORT_LEDGER_JWT_SECRET=secret,
        EXPORT_LEDGER_UI_DEV_SIGN_IN="false",
        **extra,
    )
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    program = str(Path(sys.executable).parent / "export-ledger")
    return subprocess.run(
        [program, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def served(
    url: str, data_dir: Path, *args: str, ready_timeout: float = 120, **extra: str
) -> Iterator[Served]:
    """``export-ledger serve`` on a free port, until the block ends (then SIGTERM)."""
    secret = secrets.token_urlsafe(48)
    port = free_port()
    log = data_dir / f"serve-{port}.log"
    program = str(Path(sys.executable).parent / "export-ledger")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [program, "serve", "--port", str(port), *args],
            env=ledger_env(url, data_dir, secret, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(f"http://127.0.0.1:{port}", process, secret, log)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def _wait_ready(server: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"serve exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"serve never became ready: {server.log.read_text()[-2000:]}")


@dataclass
class Outcome:
    kind: str  # "create", "processing", "completed"
    status: int  # 0: no HTTP answer
    started: float
    ended: float
    ref: str
    export_id: str | None = None
    problem_type: str | None = None


@dataclass
class Load:
    """``clients`` threads that create exports and move them on, until stopped."""

    server: Served
    clients: int = 16
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _client(self, number: int) -> None:
        headers = self.server.headers(f"load-{number}")
        with httpx.Client(base_url=self.server.base, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                ref = uuid.uuid4().hex
                created = self._send(client, "create", ref, None)
                if created is None:
                    continue
                for step in ("processing", "completed"):
                    if self._send(client, step, ref, created) is None:
                        break

    def _send(self, client: httpx.Client, kind: str, ref: str, export_id: str | None) -> str | None:
        started = time.monotonic()
        status, problem, found = 0, None, export_id
        try:
            if kind == "create":
                body: dict[str, Any] = {
                    "format": "jsonl",
                    "config": {"ref": ref},
                    "conversation_count": 1,
                }
                response = client.post("/api/exports", json=body)
            else:
                body = COMPLETION if kind == "completed" else {"status": "processing"}
                response = client.patch(f"/api/exports/{export_id}", json=body)
            status = response.status_code
            if status < 300 and kind == "create":
                found = str(response.json()["export_id"])
            elif status >= 300:
                problem = str(response.json().get("type"))
        except (httpx.HTTPError, ValueError):
            pass
        outcome = Outcome(kind, status, started, time.monotonic(), ref, found, problem)
        with self._lock:
            self.outcomes.append(outcome)
        return found if 200 <= status < 300 else None

    def acknowledged(self) -> list[Outcome]:
        return [o for o in self.outcomes if 200 <= o.status < 300]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not 200 <= o.status < 300]

    def window(self, after: float) -> float | None:
        """Write-unavailable window: the first failed command started after ``after``
        until the end of the first command that succeeded after it started."""
        failures = sorted(o.started for o in self.failed() if o.started >= after)
        if not failures:
            return None
        first = failures[0]
        successes = sorted(o.ended for o in self.acknowledged() if o.started >= first)
        return (successes[0] - first) if successes else None

    def stall(self, after: float) -> float:
        """The longest time without any acknowledgement from ``after`` on: how long
        writes were unavailable, whether commands waited or were refused meanwhile."""
        ends = sorted([after] + [o.ended for o in self.acknowledged() if o.ended >= after])
        return max((b - a for a, b in itertools.pairwise(ends)), default=0.0)

    def slowest(self) -> float:
        return max((o.ended - o.started for o in self.acknowledged()), default=0.0)


def _recorded(url: str) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """(export id, status) of every version, and each create's reference -> export id."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT export_id, status, config->>'ref' FROM export_log_versions"
        ).fetchall()
    seen = {(str(export_id), str(status)) for export_id, status, _ in rows}
    return seen, {str(ref): str(export_id) for export_id, _, ref in rows}


def conflicts_not_recorded(load: Load, url: str) -> list[Outcome]:
    """409s whose command is not in the log. The event store answers a retried write
    that finds its own events recorded with their positions, so a 409 here should be
    rare; one whose command is in the log loses nothing, one whose command is missing
    would be a refusal by mistake."""
    seen, refs = _recorded(url)
    missing = []
    for outcome in (o for o in load.outcomes if o.status == 409):
        if outcome.kind == "create":
            if outcome.ref not in refs:
                missing.append(outcome)
        elif (str(outcome.export_id), outcome.kind) not in seen:
            missing.append(outcome)
    return missing


def lost_and_doubled(load: Load, url: str) -> tuple[list[Outcome], list[str]]:
    """Acknowledged commands missing from the ledger, and references recorded twice.

    Looked up in ``export_log_versions`` (every version of every export) once
    ``rebuild --check`` has shown the read tables equal the log."""
    seen, refs = _recorded(url)
    with psycopg.connect(url) as conn:
        doubled = conn.execute(
            "SELECT config->>'ref' FROM export_logs GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
    lost = []
    for outcome in load.acknowledged():
        if outcome.kind == "create":
            if refs.get(outcome.ref) != outcome.export_id:
                lost.append(outcome)
        elif (str(outcome.export_id), outcome.kind) not in seen:
            lost.append(outcome)
    return lost, [str(row[0]) for row in doubled]


def latest_checkpoint(server: Served) -> dict[str, Any]:
    response = httpx.get(
        server.base + "/api/ledger/checkpoint", headers=server.headers(), timeout=10
    )
    response.raise_for_status()
    checkpoint: dict[str, Any] = response.json()
    return checkpoint


def consistent(server: Served, older: dict[str, Any], newer: dict[str, Any]) -> bool:
    """The newer checkpoint extends the older one (RFC 6962 consistency proof, checked here)."""
    response = httpx.get(
        server.base + "/api/ledger/consistency",
        params={"from": older["tree_size"], "to": newer["tree_size"]},
        headers=server.headers(),
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["from"]["root"] == older["root"] and verify_consistency(
        older["tree_size"],
        newer["tree_size"],
        [bytes.fromhex(node) for node in body["proof"]],
        bytes.fromhex(older["root"]),
        bytes.fromhex(newer["root"]),
    )


def wait_caught_up(server: Served, timeout: float = 120) -> dict[str, Any]:
    """Until /readyz shows no projection lag and the sealer has sealed the head."""
    deadline = time.monotonic() + timeout
    ready: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            answer = httpx.get(server.base + "/readyz", timeout=5)
            ready = answer.json()
            head = ready["projection"]["head"]
            if answer.status_code == 200 and ready["projection"]["lag"] == 0:
                if latest_checkpoint(server)["position"] >= head:
                    return ready
        time.sleep(0.5)
    raise AssertionError(f"the projection or the sealer did not catch up: {ready}")
