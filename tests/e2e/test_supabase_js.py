"""The seed's export service on the real ``@supabase/supabase-js``, unchanged, against a
real server: ``createClient(LEDGER_URL, ANON_KEY)`` with sessions and a service-role key
signed as Supabase signs them (tests/e2e/supabase/seed-script.ts, every step asserted
there; this test starts the server and checks the script passed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.e2e.live import serving
from tests.e2e.supabase_tokens import anon_key, service_role_key, session_token

PROJECT = Path(__file__).parent / "supabase"
STEPS = 16


def node_project() -> Path:
    """The TypeScript project with its locked dependencies installed (``npm ci`` once);
    skipped without Node.js, failed in CI."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are missing in CI", pytrace=False)
        pytest.skip("node and npm are not installed (the supabase-js test needs them)")
    if not (PROJECT / "node_modules" / "@supabase" / "supabase-js").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROJECT, check=True, timeout=600)
    return PROJECT / "node_modules" / ".bin" / "tsx"


def test_the_seed_service_on_supabase_js(make_app: Callable[..., FastAPI]) -> None:
    tsx = node_project()
    user_a, user_b = str(uuid.uuid4()), str(uuid.uuid4())
    with serving(make_app(), "supabase-js-server") as url:
        env = {
            **os.environ,
            "SUPABASE_URL": url,
            "SUPABASE_ANON_KEY": anon_key(),
            "SUPABASE_SERVICE_ROLE_KEY": service_role_key(),
            "USER_A_ID": user_a,
            "USER_A_TOKEN": session_token(user_a),
            "USER_B_ID": user_b,
            "USER_B_TOKEN": session_token(user_b),
        }
        result = subprocess.run(
            [str(tsx), "seed-script.ts"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ALL PASSED {STEPS}" in result.stdout, result.stdout
