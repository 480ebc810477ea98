"""The witnessed log: commit-to-cosigned latency, tile fetches and offline receipts.

- ``export-ledger project`` (sealing at most once a second) with two ``export-ledger
  witness serve`` processes on loopback in ``EXPORT_LEDGER_WITNESSES``; four paced writer
  processes run 500 commands/s in all (as in follower_lag). A thread here polls every
  10 ms for the newest checkpoint and for the newest one both witnesses cosigned. For
  each command: the time from its commit to a checkpoint covering it cosigned by both,
  against (baseline, same run, same polling) the time to a signed checkpoint covering it.
- Tiles: every full level-0 tile of the sealed tree fetched over HTTP from ``serve``
  (``GET /tile/0/N``, one keep-alive connection) in hashes/s, against reading the same
  hashes (256 per query) from ``ledger_leaves`` directly.
- Receipts: ``domain.tlog.proof.problems`` (log signature, two cosignatures, inclusion)
  of an export's tlog-proof, per proof, against checking its inclusion proof alone.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.wiring.signing import generate, write_private
from domain.tlog import merkle, notes, tiles
from domain.tlog import proof as tlog_proof
from projections.db.database import Database
from tests.benchmarks.follower_lag import WRITERS, Stamps, _latencies, _paced_writers
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import cli_command, cli_env, fresh_database, latency_ms
from tests.e2e.live import free_port

NAME = "witness"
RATE = 500.0
SECONDS = {"small": 10.0, "full": 30.0}
ORIGIN = "bench.export-ledger.test/witnessed"
POLL = 0.01


def run(admin_url: str, scale: str) -> BenchResult:
    with fresh_database(admin_url, "bench_witness") as url, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        log_key = generate()
        write_private(directory / "log.pem", log_key)
        vkey = notes.VerifierKey.of(ORIGIN, log_key.public_key).text()
        witnesses = [_witness(directory, n, vkey) for n in (1, 2)]
        env = cli_env(url) | {
            "EXPORT_LEDGER_DATA_DIR": str(directory),
            "EXPORT_LEDGER_SIGNING_KEY_FILE": str(directory / "log.pem"),
            "EXPORT_LEDGER_LOG_ORIGIN": ORIGIN,
            "EXPORT_LEDGER_WITNESSES": ",".join(f"{w[1]} {w[2]}" for w in witnesses),
        }
        try:
            details = _cosign_latency(url, env, int(RATE * SECONDS[scale]))
            details["tiles"] = _tiles(url, env)
            details["receipts"] = _receipts(url, env, log_key, [w[1] for w in witnesses])
        finally:
            for process, _, _ in witnesses:
                process.terminate()
                process.wait(timeout=30)
    return BenchResult(_figures(details), details)


def _witness(directory: Path, n: int, log_vkey: str) -> tuple[subprocess.Popen[bytes], str, str]:
    key = directory / f"witness-{n}.pem"
    name = f"bench-witness.test/w{n}"
    made = subprocess.run(
        [*cli_command(), "witness", "keygen", "--key", str(key), "--name", name],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [*cli_command(), "witness", "serve", "--key", str(key), "--name", name,
         "--log", log_vkey, "--state", str(directory / f"w{n}.sqlite"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/healthz")
    return process, made.stdout.strip(), url


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _cosign_latency(url: str, env: dict[str, str], count: int) -> dict[str, Any]:
    projector = subprocess.Popen(
        [*cli_command(), "project"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    signed: Stamps = []
    cosigned: Stamps = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(url, signed, cosigned, stop), daemon=True)
    poller.start()
    try:
        sent = _paced_writers(url, "ledger", count, lambda _: time.sleep(2), WRITERS)
        last = max(p for p, _ in sent)
        deadline = time.monotonic() + 30
        while (not cosigned or cosigned[-1][0] < last) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join()
        projector.terminate()
        projector.wait(timeout=30)
    return {"cosigned": _latencies(sent, cosigned), "signed": _latencies(sent, signed)}


def _poll(url: str, signed: Stamps, cosigned: Stamps, stop: threading.Event) -> None:
    """(position, monotonic time) each time the newest signed, or both-cosigned,
    checkpoint moves."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT (SELECT max(position) FROM ledger_checkpoints), "
                "(SELECT max(c.position) FROM ledger_checkpoints AS c JOIN "
                " (SELECT tree_size FROM ledger_cosignatures GROUP BY tree_size "
                "  HAVING count(*) >= 2) AS s USING (tree_size))"
            ).fetchone()
            now = time.monotonic()
            for stamps, value in zip((signed, cosigned), row or (None, None), strict=True):
                if value is not None and (not stamps or stamps[-1][0] < value):
                    stamps.append((int(value), now))
            time.sleep(POLL)


def _tiles(url: str, env: dict[str, str]) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [*cli_command(), "serve", "--no-projector", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env | {"EXPORT_LEDGER_JWT_SECRET": "b" * 40},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/healthz")
        with psycopg.connect(url) as conn:
            size = int(conn.execute("SELECT count(*) FROM ledger_leaves").fetchone()[0])  # type: ignore[index]
        full = size // tiles.WIDTH
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get("/" + tiles.tile_path(0, 0))  # warm up
            started = time.perf_counter()
            fetched = b"".join(client.get("/" + tiles.tile_path(0, n)).content for n in range(full))
            http_seconds = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            direct = b"".join(
                bytes(r[0])
                for n in range(full)
                for r in conn.execute(
                    "SELECT leaf_hash FROM ledger_leaves WHERE leaf_index >= %s "
                    "AND leaf_index < %s ORDER BY leaf_index",
                    (n * 256, n * 256 + 256),
                )
            )
            pg_seconds = time.perf_counter() - started
        assert fetched == direct, "the tiles are not the stored leaf hashes"
        hashes = full * tiles.WIDTH
        return {
            "tiles": full,
            "hashes": hashes,
            "http_hashes_per_second": hashes / http_seconds,
            "pg_hashes_per_second": hashes / pg_seconds,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def _receipts(url: str, env: dict[str, str], log_key: Any, witnesses: list[str]) -> dict[str, Any]:
    from projections.tlog.receipts import receipt
    from sql.names import ADMIN_ROLE

    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT export_id FROM export_logs LIMIT 50")]
    with Database(url).connect(ADMIN_ROLE) as conn:
        proofs = [tlog_proof.parse(p["proof"]) for i in ids for p in receipt(conn, i)["proofs"]]
    key = notes.VerifierKey.of(ORIGIN, log_key.public_key)
    trusted = [notes.VerifierKey.parse(w) for w in witnesses]
    full, inclusion = [], []
    for proof in random.Random(1).sample(proofs, min(len(proofs), 200)):
        started = time.perf_counter()
        assert tlog_proof.problems(proof, key, trusted, 2) == []
        full.append(time.perf_counter() - started)
        note = notes.parse(proof.checkpoint)
        _, size, root, _ = merkle.parse_checkpoint_note_text(note.text)
        started = time.perf_counter()
        assert merkle.verify_inclusion(
            merkle.hash_leaf(proof.extra), proof.index, size, proof.path, root
        )
        inclusion.append(time.perf_counter() - started)
    return {
        "full": latency_ms(full),
        "inclusion_only": latency_ms(inclusion),
        "cores": os.cpu_count(),
    }


def _figures(details: dict[str, Any]) -> list[Figure]:
    cos, sig = details["cosigned"], details["signed"]
    figures = [
        Figure(
            NAME,
            f"commit to a checkpoint cosigned by 2 witnesses {q}, {RATE:.0f} commands/s",
            cos[f"{q}_ms"],
            "ms",
            f"commit to a signed checkpoint {q} (1 s sealing interval)",
            sig[f"{q}_ms"],
            targets=(Target("value", "<", 2000, "ms"),) if q == "p99" else (),
        )
        for q in ("p50", "p99")
    ]
    figures.append(
        Figure(
            NAME,
            f"achieved command rate ({WRITERS} paced writers)",
            cos["achieved_rate"],
            "commands/s",
            "the pace asked for",
            RATE,
            targets=(Target("ratio", ">=", 0.95),),
        )
    )
    tile = details["tiles"]
    figures.append(
        Figure(
            NAME,
            f"tile fetch over HTTP, {tile['tiles']:,} full level-0 tiles",
            tile["http_hashes_per_second"],
            "hashes/s",
            "the same hashes read from PostgreSQL directly, 256 per query",
            tile["pg_hashes_per_second"],
        )
    )
    receipts = details["receipts"]
    figures.append(
        Figure(
            NAME,
            "receipt check offline p50 (log signature, 2 cosignatures, inclusion)",
            receipts["full"]["p50_ms"],
            "ms",
            "its inclusion proof alone, p50",
            receipts["inclusion_only"]["p50_ms"],
        )
    )
    return figures
