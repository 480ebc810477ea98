"""`export-ledger project` (a process of its own) seals and has both witnesses cosign."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from api.wiring.signing import Ed25519Signer, write_private
from domain.ledger.application import ExportLedger
from tests.integration.readmodel_helpers import request
from tests.witness_servers import witnesses

ORIGIN = "ledger.test/project"


def test_project_seals_and_both_witnesses_cosign(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    write_private(tmp_path / "log.pem", signer)
    request(ledger, "A")
    with witnesses(tmp_path, ORIGIN, signer) as running:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EXPORT_LEDGER_")},
            "EXPORT_LEDGER_DATABASE_URL": database_url,
            "EXPORT_LEDGER_DATA_DIR": str(tmp_path),
            "EXPORT_LEDGER_SIGNING_KEY_FILE": str(tmp_path / "log.pem"),
            "EXPORT_LEDGER_LOG_ORIGIN": ORIGIN,
            "EXPORT_LEDGER_WITNESSES": ",".join(r.setting for r in running),
        }
        process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli.main import main; main()", "project"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                with psycopg.connect(database_url) as conn:
                    row = conn.execute(
                        "SELECT count(DISTINCT witness) FROM ledger_cosignatures"
                    ).fetchone()
                if row is not None and row[0] == 2:
                    break
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert [r.witness.state.latest(ORIGIN).size for r in running] == [1, 1]
