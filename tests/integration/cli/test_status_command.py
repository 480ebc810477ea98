"""`export-ledger status`."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from api.cli.main import app as cli
from domain.ledger.application import ExportLedger


def test_status_shows_positions_and_lag(
    database_url: str, ledger: ExportLedger, tmp_path: Path
) -> None:
    for _ in range(3):
        ledger.request_export(user_id="u", format="csv", config={}, conversation_count=1)
    env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["status"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # unwrapped
    assert "configured, PostgreSQL" in text
    assert "head position 3 " in text
    assert "projection at 0, lag 3 events" in text  # nothing projected or sealed here
    assert "sealer at 0, lag 3 events" in text
    assert "latest checkpoint none yet" in text


def test_status_redacts_the_password(tmp_path: Path) -> None:
    url = "postgresql://someone:hunter2@127.0.0.1:1/nothing"
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["status"], env=env, terminal_width=200)
    assert result.exit_code == 2
    assert "hunter2" not in result.output
