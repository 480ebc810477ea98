"""`export-ledger witness keygen` and `witness serve` as a process: the HTTP protocol,
concurrent add-checkpoint over HTTP, and a kill -9 under load that leaves the state at a
size it acknowledged or a later one it was writing, whole, never between."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli.main import app as cli
from api.witness.core import SIZE_TYPE
from api.witness.state import State
from domain.tlog import merkle, notes
from tests.e2e.live import free_port
from tests.tlog_helpers import MemoryLog, add_body

runner = CliRunner()
NAME = "witness.example/cli"


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(leaves=[merkle.hash_leaf(b"%d" % i) for i in range(4000)])


@pytest.fixture
def witness_key(tmp_path: Path) -> tuple[Path, notes.VerifierKey]:
    key = tmp_path / "witness.pem"
    made = runner.invoke(cli, ["witness", "keygen", "--key", str(key), "--name", NAME])
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, ["witness", "keygen", "--key", str(key), "--name", NAME])
    assert again.exit_code == 2 and "exists already" in again.output
    return key, notes.VerifierKey.parse(made.stdout.strip())


def start(tmp_path: Path, key: Path, log: MemoryLog) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [
        "witness",
        "serve",
        "--key",
        str(key),
        "--name",
        NAME,
        "--port",
        str(port),
        "--log",
        f"{log.origin}={log.vkey.text()}",
        "--state",
        str(tmp_path / "state.sqlite"),
    ]
    errors = tmp_path / "witness.stderr"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli.main import main; main()", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None, errors.read_text()
        assert time.monotonic() < deadline, "the witness did not start"
        time.sleep(0.1)


@pytest.fixture
def served(
    tmp_path: Path, witness_key: tuple[Path, notes.VerifierKey], log: MemoryLog
) -> Iterator[str]:
    process, url = start(tmp_path, witness_key[0], log)
    yield url
    process.terminate()
    process.wait(timeout=15)


def test_the_witness_speaks_the_protocol_over_http(
    served: str, log: MemoryLog, witness_key: tuple[Path, notes.VerifierKey]
) -> None:
    vkey = witness_key[1]
    with httpx.Client(base_url=served, timeout=10) as client:
        assert client.get("/checkpoint", params={"origin": log.origin}).status_code == 404
        signed = log.note(10)
        first = client.post("/add-checkpoint", content=add_body(0, [], signed))
        assert first.status_code == 200, first.text
        note = notes.parse(signed)
        assert notes.verify_cosignature(notes.parse(note.render() + first.content), vkey)
        stale = client.post("/add-checkpoint", content=add_body(0, [], log.note(20)))
        assert (stale.status_code, stale.text) == (409, "10\n")
        assert stale.headers["content-type"] == SIZE_TYPE
        held = client.get("/checkpoint", params={"origin": log.origin})
        assert held.status_code == 200
        assert notes.verify_cosignature(notes.parse(held.content), vkey) is not None
        assert client.post("/add-checkpoint", content=b"old x\n\n").status_code == 400
        assert client.get("/checkpoint", params={"origin": "nobody"}).status_code == 404


def test_concurrent_adds_over_http_let_exactly_one_win(served: str, log: MemoryLog) -> None:
    httpx.post(f"{served}/add-checkpoint", content=add_body(0, [], log.note(100)), timeout=10)
    bodies = [add_body(100, log.proof(100, s), log.note(s)) for s in range(101, 117)]
    statuses: list[int] = []
    start_all = threading.Barrier(len(bodies))

    def submit(body: bytes) -> None:
        start_all.wait()
        statuses.append(
            httpx.post(f"{served}/add-checkpoint", content=body, timeout=30).status_code
        )

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * (len(bodies) - 1)


def test_kill_9_under_load_leaves_a_whole_state(
    tmp_path: Path, witness_key: tuple[Path, notes.VerifierKey], log: MemoryLog
) -> None:
    process, url = start(tmp_path, witness_key[0], log)
    acknowledged = [0]
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            size = 0
            while not stop.is_set() and size + 1 < len(log.leaves):
                body = add_body(size, log.proof(size, size + 1), log.note(size + 1))
                try:
                    answer = client.post("/add-checkpoint", content=body)
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    size += 1
                    acknowledged.append(size)

    workers = [threading.Thread(target=load)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=15)
    stop.set()
    for worker in workers:
        worker.join()
    latest = State(tmp_path / "state.sqlite").latest(log.origin)
    assert acknowledged[-1] <= latest.size <= acknowledged[-1] + 1
    assert latest.root == log.root(latest.size)
    stored = notes.parse(latest.note + latest.cosignature.encode())
    assert merkle.parse_checkpoint_note_text(stored.text)[1] == latest.size
    assert notes.verify_cosignature(stored, witness_key[1]) is not None
