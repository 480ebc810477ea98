"""The write path against its floors, interleaved: raw INSERT, the ledger's command,
and the HTTP create and lifecycle PATCH against a plain FastAPI endpoint.

Three rounds; each runs, one after the other, for 5 s each (small: 1.5 s):

- raw single-row INSERT with ``pgbench -M prepared`` (a ~200-byte row into a plain
  table, one autocommit transaction each) from 1 and from 32 connections;
- ``ExportLedger.request_export`` (the API example's body) from 1 and from 32
  threads, one command per transaction (a pool as large as the threads) and with
  group commit (a pool of 2);
- under ``wrk`` at 1 client (``-t1 -c1``) and at 32 (``-t2 -c32``): the plain
  FastAPI one-INSERT endpoint (``tests/benchmarks/plain_api.py``), ``POST
  /api/exports`` and ``PATCH /api/exports/{id}`` to ``processing`` (one load of the
  export's one event, one append) on one ``export-ledger serve --no-projector``
  (the API's defaults: group commit on, a pool of 4). Every PATCH goes to an
  export nobody else is patching (created beforehand), so every response must be
  a 201 or a 200; any other status fails the run.

Each figure is the round whose ratio is the median of the three rounds' (both of
its values from that round; every round's values are printed as it runs and kept
in the run's JSON under ``benchmark-results/``).
The peer event store's figures, measured once on this kind of machine, are a
published reference in the record's notes, not a baseline of this run.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from api.wiring.database import ledger_env
from domain.ledger.application import ExportLedger
from tests.benchmarks.api_commands import _WRK_ERRORS, _WRK_P99, _WRK_RATE, _WRK_TOTAL, BODY
from tests.benchmarks.api_lists import _env, _free_port, _serve, _token
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import Throughput, checkpoint, fresh_database, hammer
from tests.benchmarks.workload import RAW_TABLE_DDL, payload

NAME = "write_path"
ROUNDS = 3
SECONDS = {"small": 1.5, "full": 5.0}
CALLERS = (1, 32)
PATCH_RATE_CAP = 2500  # PATCHes/s no run reaches here: how many exports to create
_NOT_OK = re.compile(r"^not ok: (\d+)$", re.MULTILINE)
_TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")

_LUA = """
local ids = {IDS}
local token = "TOKEN"
local body = [==[BODY]==]
local method = "METHOD"
local expected = EXPECTED
local stride = STRIDE
local threads = {}
local count = 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end
function init(args) bad = 0 n = 0 end
function request()
  local path = nil
  if #ids > 0 then
    local i = tid + n * stride
    n = n + 1
    path = "/api/exports/" .. ids[(i % #ids) + 1]
  end
  return wrk.format(method, path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
function response(status, headers, body)
  if status ~= expected then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("not ok: %d\\n", total))
end
"""


def run(admin_url: str, scale: str) -> BenchResult:
    seconds = SECONDS[scale]
    rounds: list[dict[str, float]] = []
    with fresh_database(admin_url, "bench_write_path") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_TABLE_DDL)
        token = _token(url, "bench-writer", admin=False)
        exports = _queued_exports(url, int(PATCH_RATE_CAP * seconds * 2 * ROUNDS))
        with tempfile.TemporaryDirectory(prefix="el-bench-write-") as tmp:
            scripts = _Scripts(Path(tmp), token, exports, seconds)
            with _serve(url, port := _free_port()), _plain(url, plain := _free_port()):
                for number in range(ROUNDS):
                    checkpoint(url)
                    rounds.append(_round(url, seconds, port, plain, scripts))
                    print(f"  round {number + 1}: {_brief(rounds[-1])}", flush=True)
    details = {"seconds_per_run": seconds, "rounds": rounds}
    return BenchResult(_figures(rounds), details)


def _round(url: str, seconds: float, port: int, plain: int, scripts: _Scripts) -> dict[str, float]:
    found: dict[str, float] = {}
    for callers in CALLERS:
        found[f"raw_{callers}"] = _pgbench(url, callers, seconds)
        for group in (False, True):
            key = f"command_{callers}_{'group' if group else 'single'}"
            found[key] = _commands(url, callers, seconds, group).rate
    for clients in CALLERS:
        found[f"plain_{clients}"] = _wrk(plain, scripts.post(), clients, seconds)
        found[f"post_{clients}"] = _wrk(port, scripts.post(), clients, seconds)
        found[f"patch_{clients}"] = _wrk(port, scripts.patch(clients), clients, seconds)
    return found


# -- the writers ----------------------------------------------------------------------


def _pgbench(url: str, clients: int, seconds: float) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        row = payload(200, random.Random())
        script.write(f"INSERT INTO bench_raw (payload) VALUES ('{row}');\n")
        script.flush()
        command = ["pgbench", "-n", "-M", "prepared", "-f", script.name, "-c", str(clients)]
        command += ["-j", str(min(clients, 2)), "-T", str(max(int(seconds), 1)), url]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = _TPS.search(out)
    if found is None:
        raise RuntimeError(f"pgbench: unexpected output:\n{out}")
    return float(found.group(1))


def _commands(url: str, callers: int, seconds: float, group: bool) -> Throughput:
    pool = 2 if group else callers
    env = ledger_env(url, pool_size=pool, lock_timeout_seconds=30)
    ledger = ExportLedger(env=env, group_commit=group)
    try:

        @contextmanager
        def worker() -> Iterator[Callable[[], object]]:
            yield lambda: ledger.request_export(user_id="bench-writer", **BODY)

        return hammer(callers, seconds, worker)
    finally:
        ledger.close()


def _queued_exports(url: str, count: int) -> list[str]:
    """``count`` queued exports of the token's user, for the PATCHes to start."""
    env = ledger_env(url, pool_size=2, lock_timeout_seconds=30)
    ledger = ExportLedger(env=env, group_commit=True)
    ids: list[str] = []
    try:

        @contextmanager
        def worker() -> Iterator[Callable[[], object]]:
            def one() -> None:
                ids.append(ledger.request_export(user_id="bench-writer", **BODY).export_id)

            yield one

        while len(ids) < count:
            hammer(32, 1.0, worker, warmup_ops=0)
    finally:
        ledger.close()
    return ids


@contextmanager
def _plain(url: str, port: int) -> Iterator[None]:
    command = [sys.executable, "-m", "uvicorn", "tests.benchmarks.plain_api:app"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(command, env=_env(url) | {"PLAIN_API_DATABASE_URL": url})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the plain endpoint did not start") from None
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- wrk --------------------------------------------------------------------------------


class _Scripts:
    """wrk scripts: POST the API example's body; PATCH fresh exports to processing,
    each run taking the next unused slice of them."""

    def __init__(self, folder: Path, token: str, exports: list[str], seconds: float) -> None:
        self._folder, self._token, self._exports = folder, token, exports
        self._seconds, self._used, self._count = seconds, 0, 0

    def post(self) -> Path:
        return self._write("POST", 201, [], BODY)

    def patch(self, clients: int) -> Path:
        share = int(PATCH_RATE_CAP * self._seconds)
        ids = self._exports[self._used : self._used + share]
        if len(ids) < share:
            raise RuntimeError("not enough queued exports for the PATCH runs")
        self._used += share
        return self._write("PATCH", 200, ids, {"status": "processing"}, min(clients, 2))

    def _write(
        self, method: str, expected: int, ids: list[str], body: Any, threads: int = 1
    ) -> Path:
        self._count += 1
        text = (
            _LUA.replace("{IDS}", "{" + ",".join(f'"{i}"' for i in ids) + "}")
            .replace("TOKEN", self._token)
            .replace("BODY", json.dumps(body))
            .replace("METHOD", method)
            .replace("EXPECTED", str(expected))
            .replace("STRIDE", str(threads))
        )
        path = self._folder / f"{method.lower()}-{self._count}.lua"
        path.write_text(text)
        return path


def _wrk(port: int, script: Path, clients: int, seconds: float) -> float:
    command = ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{max(int(seconds), 1)}s"]
    command += ["--timeout", "10s", "--latency", "-s", str(script)]
    command.append(f"http://127.0.0.1:{port}/api/exports")
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate, bad = _WRK_RATE.search(out), _NOT_OK.search(out)
    if _WRK_ERRORS.search(out) or not (rate and bad and _WRK_P99.search(out)):
        raise RuntimeError(f"wrk: errors or unexpected output:\n{out}")
    if int(bad.group(1)) or not _WRK_TOTAL.search(out):
        raise RuntimeError(f"wrk: {bad.group(1)} responses had another status:\n{out}")
    return float(rate.group(1))


# -- figures ----------------------------------------------------------------------------


def _brief(found: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:,.0f}" for k, v in found.items())


def _median_round(rounds: list[dict[str, float]], key: str, baseline: str) -> dict[str, float]:
    """The round whose ``key`` / ``baseline`` ratio is the median of the rounds': a
    ratio compares two runs minutes apart, and other load on a shared machine
    moves both, so the figure keeps the two values of one round."""
    ordered = sorted(rounds, key=lambda r: r[key] / r[baseline])
    return ordered[len(ordered) // 2]


def _figures(rounds: list[dict[str, float]]) -> list[Figure]:
    figures = []
    for callers in CALLERS:
        label = f"{callers} caller{'s' if callers > 1 else ''}"
        raw = f"raw INSERT (pgbench, prepared), {callers} connection{'s' if callers > 1 else ''}"
        single = (Target("ratio", ">=", 0.29),) if callers == 1 else ()
        grouped = (Target("ratio", ">=", 0.2),) if callers == 32 else ()
        base = f"raw_{callers}"
        s = _median_round(rounds, f"command_{callers}_single", base)
        g = _median_round(rounds, f"command_{callers}_group", base)
        figures += [
            Figure(NAME, f"request_export, {label}, one per transaction",
                   s[f"command_{callers}_single"], "commands/s", raw, s[base], "tx/s",
                   targets=single),
            Figure(NAME, f"request_export, {label}, group commit",
                   g[f"command_{callers}_group"], "commands/s", raw, g[base], "tx/s",
                   targets=grouped),
        ]  # fmt: skip
    for clients in CALLERS:
        label = f"{clients} client{'s' if clients > 1 else ''}"
        plain = f"plain FastAPI one-INSERT endpoint, {label}"
        base = f"plain_{clients}"
        post = _median_round(rounds, f"post_{clients}", base)
        patch = _median_round(rounds, f"patch_{clients}", base)
        figures += [
            Figure(NAME, f"POST /api/exports, {label}", post[f"post_{clients}"], "req/s",
                   plain, post[base], targets=(Target("ratio", ">=", 0.8),)),
            Figure(NAME, f"PATCH /api/exports/{{id}} (processing), {label}",
                   patch[f"patch_{clients}"], "req/s", plain, patch[base],
                   targets=(Target("ratio", ">=", 0.7),)),
        ]  # fmt: skip
    return figures
