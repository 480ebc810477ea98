"""A split view caught by a witness: whoever can write the database rewrites an event,
throws the seal away and reseals with the same key. The ledger then agrees with itself
(``verify`` passes), but not with what the witness cosigned: ``verify --against-witness``
fails, naming the first tree size where the trees differ."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from api.cli.main import app
from api.wiring.signing import Ed25519Signer
from api.wiring.witnesses import post
from domain.ledger.application import ExportLedger
from projections.audit.verify import verify
from projections.db.database import Database
from projections.tlog.sealer import Sealer, seal_batch
from projections.tlog.witnessing import Cosigners
from tests.integration.tlog.test_seal import SEAL_TABLES, populate, with_triggers_off
from tests.integration.tlog.test_tamper import change_state, position
from tests.witness_servers import witnesses

ORIGIN = "ledger.test/split"
runner = CliRunner()


def seal_and_cosign(url: str, signer: Ed25519Signer, cosigners: Cosigners, batch: int) -> None:
    """Seal ``batch`` events at a time, each checkpoint cosigned before the next."""
    with Database(url).projector() as conn:
        while seal_batch(conn, signer, batch, ORIGIN).events:
            cosigners.submit_all(conn)


def leaf_index(url: str, at: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT leaf_index FROM ledger_leaves WHERE position = %s", (at,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_resealed_rewrite_passes_verify_but_not_the_witness(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    exports = populate(ledger, database_url)
    with witnesses(tmp_path, ORIGIN, signer, count=1) as running:
        cosigners = Cosigners(Database(database_url), [running[0].config], post)
        seal_and_cosign(database_url, signer, cosigners, batch=4)
        cosigned = [4, 8, 12, 16, 17]
        assert len(running[0].witness.state.history(ORIGIN)) == len(cosigned)
        at = position(database_url, exports["downloaded"], 2)  # its start (a clear actor)
        rewritten = leaf_index(database_url, at)
        # the rewrite, then a fresh seal signed with the same key
        change_state(database_url, at, b'"actor":"worker"', b'"actor":"workex"')
        wipe = [(f"DELETE FROM {t}", ()) for t in ("ledger_cosignatures", *SEAL_TABLES[::-1])]
        wipe = [w for w in wipe if "ledger_keys" not in w[0]]
        reset = ("UPDATE read_model_tracking SET position = 0 WHERE table_name = 'ledger_seal'", ())
        with_triggers_off(database_url, ("ledger_cosignatures", *SEAL_TABLES), *wipe, reset)
        with Database(database_url).projector() as conn:
            Sealer(Database(database_url), signer, batch_size=5, origin=ORIGIN).catch_up(conn)
        assert verify(Database(database_url)).ok  # the ledger agrees with itself

        env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
        result = runner.invoke(app, ["verify", "--against-witness", running[0].url], env=env)
    assert result.exit_code == 1, result.output
    first = min(size for size in cosigned if size > rewritten)
    assert f"split view: the trees differ from size {first:,} on" in result.output
    agreed = max(size for size in cosigned if size <= rewritten)
    assert f"they agree up to size {agreed:,}" in result.output


def test_an_untouched_ledger_agrees_with_its_witness(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    populate(ledger, database_url)
    with witnesses(tmp_path, ORIGIN, signer, count=1) as running:
        cosigners = Cosigners(Database(database_url), [running[0].config], post)
        seal_and_cosign(database_url, signer, cosigners, batch=8)
        env = {"EXPORT_LEDGER_DATABASE_URL": database_url, "EXPORT_LEDGER_DATA_DIR": str(tmp_path)}
        result = runner.invoke(app, ["verify", "--against-witness", running[0].url], env=env)
        down = runner.invoke(app, ["verify", "--against-witness", "http://127.0.0.1:9"], env=env)
    assert result.exit_code == 0, result.output
    assert "give every tree the witnesses cosigned (3, up to size 17)" in result.output
    assert down.exit_code == 2 and "cannot ask the witness" in down.output
