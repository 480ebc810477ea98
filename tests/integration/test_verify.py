"""``verify``, ``checkpoints``, ``proof`` and ``verify-proof`` from the command line,
and verify's second process on a large log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from api.cli.main import app
from api.wiring.signing import Ed25519Signer, generate
from domain.application import ExportLedger
from projections.verify import verify
from tests.integration.test_seal import (
    EVENTS,
    SEAL_TABLES,
    populate,
    seal_all,
    with_triggers_off,
)
from tests.integration.test_tamper import change_state, position

runner = CliRunner()



@pytest.fixture
def exports(ledger: ExportLedger, database_url: str, signer: Ed25519Signer) -> dict[str, str]:
    found = populate(ledger, database_url)
    seal_all(database_url, signer, batch=5)
    return found


def cli(url: str, data_dir: Path, *args: str) -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(data_dir)}
    return runner.invoke(app, list(args), env=env)


def test_an_empty_ledger_verifies(database_url: str) -> None:
    report = verify(database_url)
    assert report.ok and (report.events, report.sealed, report.checkpoints) == (0, 0, 0)


def test_events_not_sealed_yet_are_no_problem(
    exports: dict[str, str], ledger: ExportLedger, database_url: str
) -> None:
    ledger.record_download(exports["downloaded"], actor="A")
    report = verify(database_url)
    assert report.ok and (report.events, report.sealed) == (18, 17)


def test_verify_exits_0_on_a_sound_ledger_and_1_naming_the_first_bad_position(
    exports: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    result = cli(database_url, tmp_path, "verify")
    assert result.exit_code == 0, result.output
    assert "17 events (17 sealed), 4 checkpoints" in result.stdout
    assert "events/s" in result.stdout

    at = position(database_url, exports["downloaded"], 2)
    delete = (f"DELETE FROM {EVENTS} WHERE notification_id = %s", (at,))
    with_triggers_off(database_url, (EVENTS,), delete)
    result = cli(database_url, tmp_path, "verify")
    assert result.exit_code == 1
    assert f"first bad position: {at}: sealed as leaf {at - 1}" in result.stderr


def test_checkpoints_saved_outside_catch_a_resealed_log(
    exports: dict[str, str], ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    saved = tmp_path / "checkpoints.jsonl"
    assert cli(database_url, tmp_path, "checkpoints", "--output", str(saved)).exit_code == 0
    ledger.record_download(exports["downloaded"], actor="A")
    assert cli(database_url, tmp_path, "keys", "rotate").exit_code == 0  # a key of the data dir
    assert cli(database_url, tmp_path, "seal").exit_code == 0
    result = cli(database_url, tmp_path, "checkpoints", "--output", str(saved))
    assert "saved 1 new checkpoints" in result.stdout
    lines = saved.read_text().splitlines()
    assert [json.loads(line)["tree_size"] for line in lines] == [5, 10, 15, 17, 18]

    reseal = [(f"DELETE FROM {table}", ()) for table in reversed(SEAL_TABLES)]
    reset = "UPDATE read_model_tracking SET position = 0 WHERE table_name = 'ledger_seal'"
    with_triggers_off(database_url, SEAL_TABLES, *reseal, (reset, ()))
    seal_all(database_url, generate(), batch=5)
    assert cli(database_url, tmp_path, "verify").exit_code == 0
    result = cli(database_url, tmp_path, "verify", "--against", str(saved))
    assert result.exit_code == 1
    assert "differs from the database's" in result.stderr


def test_a_proof_bundle_round_trip(
    exports: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "proof.json"
    made = cli(
        database_url, tmp_path, "proof", exports["retried"], "--since", "5", "--output", str(bundle)
    )
    assert made.exit_code == 0, made.output
    checked = cli(database_url, tmp_path, "verify-proof", str(bundle))
    assert checked.exit_code == 0, checked.output
    assert f"4 events of {exports['retried']} are in the log of 17 events" in checked.stdout

    data = json.loads(bundle.read_text())
    data["events"][1]["topic"] = "domain.model:ExportLog.Completed"
    bundle.write_text(json.dumps(data))
    checked = cli(database_url, tmp_path, "verify-proof", str(bundle))
    assert checked.exit_code == 1
    assert "does not hash to the leaf hash given" in checked.stderr
    assert cli(database_url, tmp_path, "proof", "exp_0000000000000000000BOGUS0").exit_code == 2


def test_the_second_process_finds_what_one_process_finds(
    exports: dict[str, str], database_url: str
) -> None:
    at = position(database_url, exports["expired"], 1)
    change_state(database_url, at, b'"conversation_count":2', b'"conversation_count":3')
    with_triggers_off(
        database_url,
        (),
        ("UPDATE export_logs SET file_size = 1 WHERE export_id = %s", (exports["downloaded"],)),
    )

    alone, parallel = verify(database_url), verify(database_url, parallel_from=0)
    assert parallel.problems.sorted() == alone.problems.sorted()
    assert parallel.problems.counts == alone.problems.counts
    assert alone.problems.counts["row"] == 2
    assert [p.position for p in alone.problems.examples if p.kind == "changed"] == [at]
