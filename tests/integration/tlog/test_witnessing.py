"""The sealer's cosigners (projections/tlog/witnessing.py) with two witnesses of our own on
loopback: every checkpoint cosigned by both, the consistency proof from the size each
cosigned last, a witness that is down or has lost its state, and the k-of-n policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.wiring.signing import Ed25519Signer
from api.wiring.witnesses import post
from domain.ledger.application import ExportLedger
from domain.tlog import notes
from projections.db.database import Database
from projections.tlog.checkpoints import latest_note, latest_note_checkpoint
from projections.tlog.sealer import Sealer
from projections.tlog.witnessing import Cosigners, WitnessConfig, report
from tests.e2e.live import free_port
from tests.integration.readmodel_helpers import request
from tests.integration.tlog.test_seal import populate
from tests.witness_servers import witnesses

ORIGIN = "ledger.test/witnessed"


def seal(url: str, signer: Ed25519Signer) -> int:
    sealer = Sealer(Database(url), signer, origin=ORIGIN)
    with Database(url).projector() as conn:
        sealer.catch_up(conn)
    return sealer.tree_size


def test_both_witnesses_cosign_each_new_checkpoint_from_their_last_size(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    populate(ledger, database_url)
    with witnesses(tmp_path, ORIGIN, signer) as running, Database(database_url).projector() as conn:
        configs = [r.config for r in running]
        cosigners = Cosigners(Database(database_url), configs, post)
        seal(database_url, signer)
        assert cosigners.submit_all(conn) == 2
        request(ledger, "late")
        size = seal(database_url, signer)
        assert cosigners.submit_all(conn) == 2  # old 17, with a proof to 18
        assert cosigners.submit_all(conn) == 0  # nothing new to cosign
        assert [r.witness.state.latest(ORIGIN).size for r in running] == [size, size]
        note = notes.parse(latest_note(conn) or b"")
        assert notes.verify(note, notes.VerifierKey.of(ORIGIN, signer.public_key))
        assert notes.quorum(note, [c.key for c in configs]) == [c.key for c in configs]
        found = report(conn, configs, quorum=2)
        assert found.witnessed and [w.lag for w in found.witnesses] == [0, 0]


def test_a_witness_that_is_down_or_lost_its_state_holds_nothing_up(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    populate(ledger, database_url)
    down = WitnessConfig(
        notes.VerifierKey.of("witness.test/down", bytes(32), notes.COSIGNATURE_V1),
        f"http://127.0.0.1:{free_port()}",
    )
    with witnesses(tmp_path, ORIGIN, signer) as running, Database(database_url).projector() as conn:
        configs = [running[0].config, down]
        cosigners = Cosigners(Database(database_url), configs, post)
        seal(database_url, signer)
        assert cosigners.submit_all(conn) == 1
        assert cosigners.attempts["witness.test/down"].error is not None
        found = report(conn, configs, quorum=1)
        assert found.witnessed and not report(conn, configs, quorum=None).witnessed
        assert [w.cosigned_size for w in found.witnesses] == [17, 0]
        # the witness loses its state: it answers 409 "0", and is asked again from 0
        running[0].witness.state.path.unlink()
        running[0].witness.state = type(running[0].witness.state)(running[0].witness.state.path)
        request(ledger, "late")
        seal(database_url, signer)
        fresh = Cosigners(Database(database_url), configs, post)
        assert fresh.submit_all(conn) == 1
        assert running[0].witness.state.latest(ORIGIN).size == 18


def test_a_witness_ahead_of_the_log_is_reported_as_a_fork(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    request(ledger, "A")
    with (
        witnesses(tmp_path, ORIGIN, signer, count=1) as running,
        Database(database_url).projector() as conn,
    ):
        seal(database_url, signer)
        checkpoint = latest_note_checkpoint(conn)
        assert checkpoint is not None
        cosigners = Cosigners(Database(database_url), [running[0].config], post)
        cosigners.attempts[running[0].witness.key.name].held = checkpoint.tree_size + 5
        assert cosigners.submit_all(conn) == 1  # a held size beyond ours is not trusted


@pytest.mark.parametrize("quorum", [0, 1])
def test_no_checkpoint_is_never_witnessed(database_url: str, quorum: int) -> None:
    with Database(database_url).projector() as conn:
        assert not report(conn, [], quorum).witnessed


def test_status_shows_each_witness_and_the_policy(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, tmp_path: Path
) -> None:
    from rich.console import Console

    from api.cli.status import gather_status, status_table
    from api.wiring.settings import Settings

    request(ledger, "A")
    with witnesses(tmp_path, ORIGIN, signer) as running, Database(database_url).projector() as conn:
        seal(database_url, signer)
        Cosigners(Database(database_url), [running[0].config], post).submit_all(conn)
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path,
            witnesses=[r.setting for r in running],
            witness_quorum=1,
        )  # type: ignore[call-arg]
        found = gather_status(Database(database_url), settings)
    console = Console(width=200, record=True)
    console.print(status_table(found, embedded=False))
    text = console.export_text()
    assert "witnessed: 1 of 2 cosigned the latest checkpoint (policy: 1)" in text
    assert "witness.test/w1" in text and "cosigned 1, lag 0 leaves" in text
    assert "cosigned 0, lag 1 leaves" in text
