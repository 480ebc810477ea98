"""The Supabase-compatible surface against the API it stands beside: one export's get
and a user's first list page through ``/rest/v1/export_logs`` (as supabase-js asks them:
``.single()`` by ``export_id``; ``user_id=eq.``, ``order=timestamp.desc``, a range and
``count=exact``), against the same through ``/api/exports``. Measured from one sequential
keep-alive client against ``export-ledger serve --no-projector`` on a rebuilt read
table, the four requests taking turns, strong (read-your-writes) reads on both sides.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from tests.benchmarks.api_lists import SECRET, _serve, _token
from tests.benchmarks.read_your_writes import _busiest_user, _free_port
from tests.benchmarks.report import BenchResult, Figure, Target
from tests.benchmarks.seeded import seeded_database
from tests.benchmarks.support import latency_ms

NAME = "rest_v1"
SCALES = {"small": (5_000, 200, 500), "full": (100_000, 2_000, 3_000)}  # exports, users, rounds
LIMIT = 25
OBJECT = "application/vnd.pgrst.object+json"


def run(admin_url: str, scale: str) -> BenchResult:
    exports, users, rounds = SCALES[scale]
    with seeded_database(admin_url, "bench_rest_v1", exports, users) as (url, data):
        details_set = data.describe()
        user, export_id = _busiest_user(url)
        port = _free_port()
        with _serve(url, port, {"EXPORT_LEDGER_JWT_SECRET": SECRET}):
            ours = {"Authorization": f"Bearer {_token(url, user, admin=False)}"}
            theirs = _supabase_headers(user)
            requests = {
                "get /api/exports": ("/api/exports/" + export_id, {}, ours),
                "get /rest/v1": (
                    "/rest/v1/export_logs",
                    {"select": "*", "export_id": f"eq.{export_id}"},
                    {**theirs, "Accept": OBJECT},
                ),
                "list /api/exports": ("/api/exports", {"limit": str(LIMIT)}, ours),
                "list /rest/v1": (
                    "/rest/v1/export_logs",
                    {
                        "select": "*",
                        "user_id": f"eq.{user}",
                        "order": "timestamp.desc",
                        "offset": "0",
                        "limit": str(LIMIT),
                    },
                    {**theirs, "Prefer": "count=exact"},
                ),
            }
            times = _take_turns(f"http://127.0.0.1:{port}", requests, rounds)
    summary = {name: latency_ms(t) for name, t in times.items()}
    details = {"data_set": details_set, "rounds": rounds, "latency": summary}
    return BenchResult(_figures(summary), details)


def _supabase_headers(user: str) -> dict[str, str]:
    """A session token as Supabase's auth signs it, sent as supabase-js sends it."""
    now = int(time.time())
    claims = {"sub": user, "role": "authenticated", "aud": "authenticated", "iat": now,
              "exp": now + 3600}  # fmt: skip
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    return {"apikey": token, "Authorization": f"Bearer {token}", "Accept-Profile": "public"}


def _take_turns(
    base: str, requests: dict[str, tuple[str, dict[str, str], dict[str, str]]], rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in requests}
    with httpx.Client(base_url=base, timeout=30) as client:
        for round_number in range(rounds + 20):  # the first 20 warm up
            for name, (path, params, headers) in requests.items():
                started = time.perf_counter()
                response = client.get(path, params=params, headers=headers)
                took = time.perf_counter() - started
                if response.status_code not in (200, 206):
                    raise RuntimeError(f"{name}: {response.status_code} {response.text}")
                if round_number >= 20:
                    times[name].append(took)
    return times


def _figures(summary: dict[str, Any]) -> list[Figure]:
    figures = []
    for kind in ("get", "list"):
        for q in ("p50", "p99"):
            targets = (Target("ratio", "<=", 1.2),) if q == "p50" else ()
            figures.append(
                Figure(
                    NAME,
                    f"{kind} {q} through /rest/v1/export_logs",
                    summary[f"{kind} /rest/v1"][f"{q}_ms"],
                    "ms",
                    f"{kind} {q} through /api/exports",
                    summary[f"{kind} /api/exports"][f"{q}_ms"],
                    targets=targets,
                )
            )
    return figures
