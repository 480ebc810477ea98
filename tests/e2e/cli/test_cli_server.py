"""`export-ledger serve` and `export-ledger token`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from api.cli.main import app as cli
from api.wiring.auth import SECRET_FILE
from tests.e2e.helpers import SECRET, export_body

runner = CliRunner()


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    base = {"EXPORT_LEDGER_DATA_DIR": str(tmp_path), "EXPORT_LEDGER_DATABASE_URL": ""}
    return {**base, "EXPORT_LEDGER_JWT_SECRET": "", "EXPORT_LEDGER_JWKS_URL": "", **values}


def test_token_is_signed_with_the_configured_secret(tmp_path: Path) -> None:
    env = _env(tmp_path, EXPORT_LEDGER_JWT_SECRET=SECRET)
    result = runner.invoke(cli, ["token", "--user", "u-1", "--admin", "--ttl", "2h"], env=env)
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "u-1" and claims["role"] == "admin"
    assert 7100 < claims["exp"] - claims["iat"] <= 7200


def test_token_on_the_embedded_default_uses_the_stored_secret(tmp_path: Path) -> None:
    first = runner.invoke(cli, ["token", "--user", "u-1"], env=_env(tmp_path))
    assert first.exit_code == 0, first.output
    stored = (tmp_path / SECRET_FILE).read_text().strip()
    claims = jwt.decode(first.stdout.strip(), stored, algorithms=["HS256"])
    assert claims["sub"] == "u-1" and "role" not in claims
    again = runner.invoke(cli, ["token", "--user", "u-2"], env=_env(tmp_path))
    assert jwt.decode(again.stdout.strip(), stored, algorithms=["HS256"])["sub"] == "u-2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "--user", "u", "--ttl", "soon"], "not a duration"),
        (["token", "--user", "", "--ttl", "1h"], "user id"),
    ],
)
def test_token_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(cli, args, env=_env(tmp_path, EXPORT_LEDGER_JWT_SECRET=SECRET))
    assert result.exit_code == 2
    assert message in result.output


def test_token_needs_a_secret_with_a_configured_database(tmp_path: Path) -> None:
    env = _env(tmp_path, EXPORT_LEDGER_DATABASE_URL="postgresql://u@127.0.0.1:1/x")
    result = runner.invoke(cli, ["token", "--user", "u"], env=env)
    assert result.exit_code == 2
    assert "EXPORT_LEDGER_JWT_SECRET" in result.output


def test_serve_refuses_to_start_without_a_way_to_check_tokens(tmp_path: Path) -> None:
    env = _env(tmp_path, EXPORT_LEDGER_DATABASE_URL="postgresql://u@127.0.0.1:1/x")
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "EXPORT_LEDGER_JWT_SECRET" in result.output


def test_serve_passes_its_options_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        "api.http.app.create_app", lambda s, **kw: seen.update(kw, settings=s) or "app"
    )
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(kw, app=app))
    env = _env(tmp_path, EXPORT_LEDGER_JWT_SECRET=SECRET)
    args = ["serve", "--host", "127.0.0.2", "--port", "8766", "--no-projector"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert seen["run_projector"] is False
    assert (seen["app"], seen["host"], seen["port"]) == ("app", "127.0.0.2", 8766)


def test_serve_runs_a_whole_working_system(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, **_env(tmp_path, EXPORT_LEDGER_DATABASE_URL=database_url)}
    env["EXPORT_LEDGER_JWT_SECRET"] = SECRET
    command = [sys.executable, "-c", "from api.cli.main import main; main()", "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        issued = runner.invoke(cli, ["token", "--user", "u-1"], env=env)
        headers = {"Authorization": f"Bearer {issued.stdout.strip()}"}
        created = httpx.post(f"{base}/api/exports", json=export_body(), headers=headers)
        assert created.status_code == 201, created.text
        params = {"min_position": created.headers["X-Ledger-Position"]}
        listed = httpx.get(f"{base}/api/exports", params=params, headers=headers, timeout=10)
        assert listed.json()["logs"][0]["export_id"] == created.json()["export_id"]
        assert httpx.get(f"{base}/readyz").json()["projection"]["projector"] == "running"
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=20)[0].decode()
    assert server.returncode == 0, output
    assert "Application startup complete" in output


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.communicate()[0].decode())
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not get ready in time")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
