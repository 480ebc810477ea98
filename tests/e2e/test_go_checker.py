"""Code nobody here wrote checks the log: a small Go program on golang.org/x/mod's
sumdb/note and sumdb/tlog (tests/go/tlogcheck) opens our checkpoint notes with our
vkey and our two witnesses' cosignatures, recomputes the root from our tiles, and checks
an export's inclusion proofs and a consistency proof, as served and as the tiles prove
them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import USER_A, completion, export_body, token
from tests.e2e.live import go_checker
from tests.witness_servers import Running, witnessed_api


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_checker(tmp_path_factory.mktemp("go"))


ORIGIN = "ledger.test/go"


@pytest.fixture(scope="module")
def witnessed(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[Running]]]:
    """The API (sealing every 1 s) with two witnesses of our own on loopback."""
    data = tmp_path_factory.mktemp("data")
    with witnessed_api(module_database_url, data, ORIGIN) as (url, running, _):
        yield url, running


@pytest.fixture(scope="module")
def base_url(witnessed: tuple[str, list[Running]]) -> str:
    return witnessed[0]


def cosigned_to(client: httpx.Client, size: int) -> dict[str, Any]:
    """/readyz once both witnesses cosigned a checkpoint of at least ``size``."""
    deadline = time.monotonic() + 30
    while True:
        ready: dict[str, Any] = client.get("/readyz").json()
        found = ready["witnessing"]
        if found["witnessed"] and found["tree_size"] >= size:
            return found
        assert time.monotonic() < deadline, ready
        time.sleep(0.1)


def sealed_to(client: httpx.Client, position: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        found = client.get("/api/ledger/checkpoint", headers=USER_A)
        if found.status_code == 200 and found.json()["position"] >= position:
            body: dict[str, Any] = found.json()
            return body
        assert time.monotonic() < deadline, found.text
        time.sleep(0.1)


def create(client: httpx.Client, n: int) -> tuple[str, int]:
    """``n`` exports (the last one completed); its id and the last position."""
    export_id, position = "", 0
    for _ in range(n):
        made = client.post("/api/exports", json=export_body(), headers=USER_A)
        assert made.status_code == 201, made.text
        export_id, position = made.json()["export_id"], int(made.headers["X-Ledger-Position"])
    for status in ("processing", "completed"):
        body = completion() if status == "completed" else {"status": status}
        moved = client.patch(f"/api/exports/{export_id}", json=body, headers=USER_A)
        assert moved.status_code == 200, moved.text
        position = int(moved.headers["X-Ledger-Position"])
    return export_id, position


def test_the_go_packages_verify_our_notes_cosignatures_tiles_and_proofs(
    checker: Path, base_url: str, witnessed: tuple[str, list[Running]]
) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        first, position = create(client, 3)
        older = sealed_to(client, position)
        _, position = create(client, 300)  # past a full tile and into level 1
        latest = sealed_to(client, position)
        vkey = client.get("/api/ledger/public-key", headers=USER_A).json()["vkey"]
        report = cosigned_to(client, latest["tree_size"])
        metrics = client.get("/metrics").text
    assert latest["tree_size"] > 256 > older["tree_size"]
    assert [w["lag"] for w in report["witnesses"]] == [0, 0] and report["quorum"] == 2
    assert "export_ledger_checkpoint_witnessed 1.0" in metrics
    assert 'export_ledger_witness_lag_leaves{witness="witness.test/w1"} 0.0' in metrics
    admin = token("admin-1", admin=True)
    cosigners = [f"-witness={r.witness.key.text()}" for r in witnessed[1]]
    result = subprocess.run(
        [
            str(checker),
            *cosigners,
            "-url",
            base_url,
            "-vkey",
            vkey,
            "-token",
            admin,
            "-export",
            first,
            "-since",
            str(older["tree_size"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert (
        lines[0].startswith(f"ok note {ORIGIN} ")
        and lines[0].endswith("cosigned by 2")
        and lines[1].startswith("ok tiles ")
    )
    assert sum(line.startswith("ok inclusion ") for line in lines) == 3  # requested .. completed
    assert f"ok consistency {older['tree_size']} " in result.stdout


def test_the_go_packages_refuse_a_note_under_another_key(checker: Path, base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        key = client.get("/api/ledger/public-key", headers=USER_A).json()
    name, key_hash, material = key["vkey"].split("+", 2)
    other = f"{name}x+{key_hash}+{material}"  # another name: the key id no longer matches
    result = subprocess.run(
        [str(checker), "-url", base_url, "-vkey", other], capture_output=True, text=True
    )
    assert result.returncode == 1 and "FAIL" in result.stderr
