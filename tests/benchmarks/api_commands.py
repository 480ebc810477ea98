"""Commands through the HTTP API: ``POST /api/exports`` with and without group
commit, against a plain FastAPI one-INSERT endpoint and raw single-row INSERT
transactions, in the same run.

One ``export-ledger serve --no-projector`` runs as a subprocess (a single
uvicorn worker, the API's default pool of 4 connections) on a fresh database,
first with ``EXPORT_LEDGER_GROUP_COMMIT=true`` (the default: concurrent
commands share transactions, each response still waits for its own commit),
then restarted with ``=false`` (one command per transaction). Against each,
``wrk`` runs for 10 s (small: 3 s) at ``-t1 -c1`` and at ``-t2 -c32``; a Lua
script sends the POST with a JSON body (format, config and conversation count
of the API's example) and takes the bearer token of one of 8 users in
turn, so the requests come from several users. The figures are wrk's
Requests/sec and its 99% latency. Every response must be a 201 (the script
counts any other status; wrk's non-2xx and socket errors must be zero), and
afterwards the database must hold at least as many exports as wrk counted
(responses are sent only after the commit).

Baselines of the same run, on the same server: the framework's floor, a plain
FastAPI endpoint that inserts one row per request (``tests/benchmarks/plain_api.py``,
as ``write_path`` runs it) under the same wrk runs, which the target is about
(group commit at 32 clients >= 0.8x of it; an earlier target of 5,000 commands/s
was above this floor, about 1,466 req/s, so no route could meet it); and one
~200-byte INSERT per autocommit transaction into a plain table from 32 connections
(as in ``group_commit``), which shows the disk's commit rate with PostgreSQL's own
grouping of commits. wrk, the server process and PostgreSQL share the machine's
cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from tests.benchmarks.api_lists import _free_port, _serve, _token
from tests.benchmarks.commands import _raw_insert
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.support import checkpoint, fresh_database, hammer, scalar
from tests.benchmarks.workload import RAW_TABLE_DDL

NAME = "api_commands"
DURATION = {"small": 3, "full": int(os.environ.get("API_COMMANDS_SECONDS", "10"))}
CLIENTS = (1, 32)
USERS = 8
BODY = {
    "format": "jsonl",
    "config": {
        "scope": "filtered",
        "include_metadata": True,
        "filters": {"tiers": ["template"], "quality_score_min": 7.5},
    },
    "conversation_count": 42,
}
_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_WRK_TOTAL = re.compile(r"(\d+) requests in ")
_WRK_ERRORS = re.compile(r"Non-2xx or socket errors responses:\s+(\d+)|Socket errors:.*")
_NOT_201 = re.compile(r"^not 201: (\d+)$", re.MULTILINE)

# Takes the tokens in turn, and counts every response that is not a 201.
_LUA = """
local tokens = {TOKENS}
local body = [==[BODY]==]
local sent = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function request()
  sent = sent + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(sent % #tokens) + 1],
  }, body)
end
function response(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("not 201: %d\\n", total))
end
"""


def run(admin_url: str, scale: str) -> BenchResult:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    seconds = DURATION[scale]
    details: dict[str, Any] = {"seconds_per_run": seconds, "users": USERS}
    with fresh_database(admin_url, "bench_api_commands") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_TABLE_DDL)
        checkpoint(url)
        details["raw_insert"] = hammer(32, seconds, _raw_insert(url)).summary()
        tokens = [_token(url, f"bench-user-{i}", admin=False) for i in range(USERS)]
        with tempfile.TemporaryDirectory(prefix="el-bench-wrk-") as tmp:
            script = Path(tmp) / "post.lua"
            script.write_text(_script(tokens))
            for group in (False, True):
                key = "group_commit" if group else "one_per_transaction"
                details[key] = _serve_and_load(url, script, seconds, group)
            details["plain"] = _plain_floor(url, script, seconds)
        details["exports_stored"] = _stored(url)
    return BenchResult(_figures(details), details)


def _script(tokens: list[str]) -> str:
    body = json.dumps(BODY)
    lua_tokens = "{" + ", ".join(f'"{t}"' for t in tokens) + "}"
    return _LUA.replace("{TOKENS}", lua_tokens).replace("BODY", body)


def _serve_and_load(url: str, script: Path, seconds: int, group: bool) -> dict[str, Any]:
    """Start the server with group commit on or off; wrk at each concurrency."""
    port = _free_port()
    results: dict[str, Any] = {}
    env = {"EXPORT_LEDGER_GROUP_COMMIT": "true" if group else "false"}
    with _serve(url, port, env):
        target = f"http://127.0.0.1:{port}/api/exports"
        for clients in CLIENTS:
            checkpoint(url)
            before = _stored(url)
            result = _wrk(target, script, clients, seconds)
            stored = _stored(url) - before
            if stored < result["requests"]:
                raise RuntimeError(f"{result['requests']} responses but {stored} exports stored")
            result["stored"] = stored
            results[str(clients)] = result
            print(
                f"  group commit {'on' if group else 'off'}, {clients} clients: "
                f"{result['rate']:,.0f}/s, p99 {result['p99_ms']:.1f} ms",
                flush=True,
            )
    return results


def _plain_floor(url: str, script: Path, seconds: int) -> dict[str, Any]:
    """The framework's floor: wrk at each concurrency against a plain FastAPI endpoint
    that inserts one row per request (tests/benchmarks/plain_api.py)."""
    from tests.benchmarks.write_path import _plain  # it imports this module's wrk patterns

    with _plain(url, port := _free_port()):
        target = f"http://127.0.0.1:{port}/api/exports"
        return {str(clients): _wrk(target, script, clients, seconds) for clients in CLIENTS}


def _stored(url: str) -> int:
    """Exports requested so far (one ExportRequested event each)."""
    return int(
        scalar(url, "SELECT count(*) FROM exportledger_events WHERE topic LIKE '%Requested'")
    )


def _wrk(target: str, script: Path, clients: int, seconds: int) -> dict[str, Any]:
    threads = min(clients, 2)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        target,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate, p99 = _WRK_RATE.search(out), _WRK_P99.search(out)
    total, not_201 = _WRK_TOTAL.search(out), _NOT_201.search(out)
    if _WRK_ERRORS.search(out) or not (rate and p99 and total and not_201):
        raise RuntimeError(f"wrk: errors or unexpected output:\n{out}")
    if int(not_201.group(1)):
        raise RuntimeError(f"wrk: {not_201.group(1)} responses were not 201:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return {
        "rate": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "requests": int(total.group(1)),
        "command": f"wrk -t{threads} -c{clients} -d{seconds}s --timeout 10s --latency "
        "-s post.lua URL",
    }


def _figures(details: dict[str, Any]) -> list[Figure]:
    grouped, single = details["group_commit"], details["one_per_transaction"]
    raw = details["raw_insert"]
    figures = []
    for clients in CLIENTS:
        label = f"{clients} client{'s' if clients > 1 else ''}"
        many = clients == 32
        g, s = grouped[str(clients)], single[str(clients)]
        figures += [
            Figure(
                NAME,
                f"POST /api/exports, group commit, {label}",
                g["rate"],
                "commands/s",
                f"same, one command per transaction, {label}",
                s["rate"],
            ),
            Figure(
                NAME,
                f"POST /api/exports, group commit, {label}",
                g["rate"],
                "commands/s",
                f"plain FastAPI one-INSERT endpoint, {label}",
                details["plain"][str(clients)]["rate"],
                "req/s",
                targets=(Target("ratio", ">=", 0.8),) if many else (),
            ),
            Figure(
                NAME,
                f"POST /api/exports p99, group commit, {label}",
                g["p99_ms"],
                "ms",
                f"same, one command per transaction, {label}",
                s["p99_ms"],
            ),
        ]
    figures.append(
        Figure(
            NAME,
            "POST /api/exports, group commit, 32 clients",
            grouped["32"]["rate"],
            "commands/s",
            "raw INSERT, 32 connections",
            raw["rate"],
            "tx/s",
        )
    )
    return figures
