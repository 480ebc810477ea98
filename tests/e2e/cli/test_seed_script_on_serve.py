"""The seed's script, unchanged, against ``export-ledger serve`` on the embedded default:
no database URL, a fresh data directory, the projection in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.cli.test_cli_server import _env, _free_port, _wait_ready
from tests.e2e.helpers import SECRET, bearer
from tests.e2e.test_seed_drop_in import run_seed_script


def test_the_seed_script_passes_against_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, **_env(tmp_path, EXPORT_LEDGER_JWT_SECRET=SECRET)}
    env.pop("EXPORT_LEDGER_DATABASE_URL")
    command = [sys.executable, "-c", "from api.cli.main import main; main()", "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        with httpx.Client(base_url=base, timeout=30) as client:
            run_seed_script(client, bearer("user-a"), bearer("admin-1", admin=True))
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
