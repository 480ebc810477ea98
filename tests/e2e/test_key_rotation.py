"""Rotating the checkpoint key in the middle of a run, from the command line and over HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from api.cli.main import app
from api.cli.status import secret_rows
from api.wiring.settings import Settings
from api.wiring.signing import KEY_FILE_NAME, Ed25519Signer, load
from domain.ledger.application import ExportLedger
from projections.db.database import Database
from projections.tlog.keys import Signer
from projections.tlog.sealer import seal_batch
from tests.e2e.helpers import USER_A
from tests.integration.readmodel_helpers import complete, request
from tests.integration.tlog.test_seal import populate

runner = CliRunner()


def cli(url: str, data_dir: Path, *args: str) -> Result:
    env = {"EXPORT_LEDGER_DATABASE_URL": url, "EXPORT_LEDGER_DATA_DIR": str(data_dir)}
    return runner.invoke(app, list(args), env=env)


def keys_of(url: str, data_dir: Path) -> list[dict[str, Any]]:
    result = cli(url, data_dir, "keys", "list", "--json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


@dataclass(frozen=True)
class StaleRing:
    """A sealer that missed the rotation: it signs with its old key whatever is current."""

    signer: Ed25519Signer

    def first(self) -> Signer:
        return self.signer

    def find(self, key_id: str) -> Signer | None:
        return self.signer


def test_a_rotation_in_the_middle_of_a_run(
    ledger: ExportLedger,
    database_url: str,
    tmp_path: Path,
    make_app: Callable[..., FastAPI],
) -> None:
    found = populate(ledger, database_url)
    assert cli(database_url, tmp_path, "seal", "--batch-size", "5").exit_code == 0
    old = load(tmp_path / KEY_FILE_NAME)
    assert os.stat(tmp_path / KEY_FILE_NAME).st_mode & 0o777 == 0o600
    bundle = tmp_path / "old-proof.json"
    proof = cli(database_url, tmp_path, "proof", found["downloaded"], "--output", str(bundle))
    assert proof.exit_code == 0, proof.output

    rotated = cli(database_url, tmp_path, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "signs checkpoints from tree size 18" in rotated.stdout
    assert f"key {old.key_id} is retired" in rotated.stdout
    first, second = keys_of(database_url, tmp_path)
    assert (first["key_id"], first["signs_from"], first["signs_until"]) == (old.key_id, 1, 18)
    assert (second["signs_from"], second["signs_until"], second["current"]) == (18, None, True)
    assert second["private_key_here"] and first["private_key_here"]
    new_file = tmp_path / f"ledger-signing-key-{second['key_id']}.pem"
    assert os.stat(new_file).st_mode & 0o777 == 0o600

    complete(ledger, request(ledger, "D"))
    sealed = cli(database_url, tmp_path, "seal", "--batch-size", "2")
    assert sealed.exit_code == 0 and f"signing key {second['key_id']}" in sealed.stdout
    with psycopg.connect(database_url) as conn:
        signers = dict(conn.execute("SELECT tree_size, key_id FROM ledger_checkpoints").fetchall())
    assert {signers[size] for size in signers if size < 18} == {old.key_id}
    assert {signers[size] for size in signers if size >= 18} == {second["key_id"]}

    verified = cli(database_url, tmp_path, "verify")
    assert verified.exit_code == 0, verified.output
    checked = cli(database_url, tmp_path, "verify-proof", str(bundle))
    assert checked.exit_code == 0 and f"signed by key {old.key_id}" in checked.stdout
    across = tmp_path / "across.json"
    args = ("proof", found["downloaded"], "--since", "15", "--output", str(across))
    assert cli(database_url, tmp_path, *args).exit_code == 0
    assert cli(database_url, tmp_path, "verify-proof", str(across)).exit_code == 0

    with TestClient(make_app(run_projector=False)) as client:
        key = client.get("/api/ledger/public-key", headers=USER_A).json()
        older = client.get(f"/api/ledger/public-key?key_id={old.key_id}", headers=USER_A)
    assert key["key_id"] == second["key_id"] and key["current"] and key["signs_from"] == 18
    assert [k["key_id"] for k in key["keys"]] == [old.key_id, second["key_id"]]
    assert older.json()["signs_until"] == 18 and not older.json()["current"]

    ledger.record_download(found["downloaded"], actor="A")
    with Database(database_url).projector() as conn:
        stale = seal_batch(conn, StaleRing(old))
    assert stale.key_id == old.key_id
    reported = cli(database_url, tmp_path, "verify")
    assert reported.exit_code == 1
    assert f"signed by key {old.key_id}, retired from tree size 18" in reported.stderr
    assert "1 problems (1 key)" in reported.stderr


def test_a_sealer_without_the_current_key_is_refused(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    populate(ledger, database_url)
    assert cli(database_url, tmp_path / "one", "seal").exit_code == 0
    complete(ledger, request(ledger, "D"))
    elsewhere = cli(database_url, tmp_path / "two", "seal")
    assert elsewhere.exit_code == 2
    assert "is not among this host's private keys" in elsewhere.stderr
    assert cli(database_url, tmp_path / "two", "keys", "rotate").exit_code == 0
    assert cli(database_url, tmp_path / "two", "seal").exit_code == 0
    assert cli(database_url, tmp_path / "two", "verify").exit_code == 0


def test_a_key_file_others_may_read_is_refused(
    ledger: ExportLedger, database_url: str, tmp_path: Path
) -> None:
    populate(ledger, database_url)
    assert cli(database_url, tmp_path, "seal").exit_code == 0
    complete(ledger, request(ledger, "D"))
    os.chmod(tmp_path / KEY_FILE_NAME, 0o644)
    refused = cli(database_url, tmp_path, "seal")
    assert refused.exit_code == 2
    assert "has mode 0644, readable by others: run 'chmod 600" in refused.stderr
    assert "PRIVATE KEY" not in refused.output and len(refused.stderr.strip().splitlines()) <= 2
    status = cli(database_url, tmp_path, "status")
    assert status.exit_code == 0 and "signing key files" in status.stdout
    assert "PRIVATE KEY" not in status.stdout
    rows = dict(secret_rows(Settings(database_url=database_url, data_dir=tmp_path)))
    assert rows["signing key files"] == str(tmp_path / KEY_FILE_NAME)
