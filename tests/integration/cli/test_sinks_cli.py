"""``export-ledger sinks``: add (the secret shown once, stored sealed), list, pause,
resume, replay, remove; a refused target or an unknown sink is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner, Result

from api.cli.main import app
from domain.ledger.application import ExportLedger
from tests.integration.helpers import request

runner = CliRunner()


def cli(url: str, data_dir: Path, *args: str, hosts: str = "") -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(data_dir),
           "EXPORT_LEDGER_SINK_HOSTS": hosts}  # fmt: skip
    return runner.invoke(app, ["sinks", *args], env=env)


def test_the_sink_commands(ledger: ExportLedger, database_url: str, tmp_path: Path) -> None:
    request(ledger, "u1")
    added = cli(database_url, tmp_path, "add", "http://127.0.0.1:9/hook", "--name", "siem",
                "--types", "export.requested", "--personal-data")  # fmt: skip
    assert added.exit_code == 0, added.output
    secret = added.stdout.split("secret (shown once): ")[1].strip()
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    assert (tmp_path / "sink-key").stat().st_mode & 0o077 == 0
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT secret_sealed FROM event_sinks").fetchone()
    assert stored is not None and secret.encode() not in bytes(stored[0])
    listed = json.loads(cli(database_url, tmp_path, "list", "--json").stdout)
    assert [(s["name"], s["state"], s["types"], s["personal"]) for s in listed] == [
        ("siem", "active", ["export.requested"], True)
    ]
    assert listed[0]["cursor"] >= 1 and listed[0]["lag"] == 0
    for args, state in ((["pause", "siem"], "paused"), (["resume", "siem"], "active")):
        assert cli(database_url, tmp_path, *args).exit_code == 0
        assert json.loads(cli(database_url, tmp_path, "list", "--json").stdout)[0]["state"] == state
    assert cli(database_url, tmp_path, "replay", "siem", "--from", "1").exit_code == 0
    assert json.loads(cli(database_url, tmp_path, "list", "--json").stdout)[0]["cursor"] == 0
    assert "siem" in cli(database_url, tmp_path, "list").stdout
    env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    shown = runner.invoke(app, ["status"], env=env)
    assert shown.exit_code == 0 and "sink siem" in shown.stdout, shown.output
    assert cli(database_url, tmp_path, "remove", "siem").exit_code == 0
    assert json.loads(cli(database_url, tmp_path, "list", "--json").stdout) == []


def test_refusals_are_one_line_and_exit_2(database_url: str, tmp_path: Path) -> None:
    for args in (["add", "https://siem.example.com/h"], ["add", "http://10.0.0.1/h"],
                 ["add", "http://127.0.0.1/h", "--types", "export.claimed"],
                 ["remove", "nothing"], ["replay", "nothing", "--from", "0"]):  # fmt: skip
        result = cli(database_url, tmp_path, *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    ok = cli(database_url, tmp_path, "add", "https://siem.example.com/h", hosts="siem.example.com")
    assert ok.exit_code == 0, ok.output
    again = cli(
        database_url, tmp_path, "add", "https://siem.example.com/h", hosts="siem.example.com"
    )
    assert again.exit_code == 2 and "already" in again.output
