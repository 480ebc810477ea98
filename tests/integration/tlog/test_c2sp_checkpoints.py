"""Checkpoints as C2SP signed notes: the origin, the vkey that opens them, and checkpoints
of the first format (signed before the log had an origin) that keep verifying."""

from __future__ import annotations

import pytest

from api.wiring.signing import Ed25519Signer
from domain.exceptions import ConfigurationError
from domain.ledger.application import ExportLedger
from domain.tlog import merkle, notes
from projections.audit.verify import verify
from projections.db.database import Database
from projections.tlog import sealer as sealer_module
from projections.tlog.checkpoints import all_checkpoints, latest_note, vkey
from projections.tlog.proofs import proof_bundle, saved_checkpoint, verify_bundle
from projections.tlog.sealer import Sealer
from tests.integration.readmodel_helpers import complete, request
from tests.integration.tlog.test_seal import populate


def test_sealing_signs_c2sp_notes_that_open_with_the_logs_vkey(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    populate(ledger, database_url)
    sealer = Sealer(Database(database_url), signer, batch_size=5)
    with Database(database_url).projector() as conn:
        sealer.catch_up(conn)
        stored = all_checkpoints(conn)
        note_bytes = latest_note(conn)
    origin = f"export-ledger.local/{signer.key_id}"
    assert [cp.origin for cp in stored] == [origin] * 4
    assert note_bytes is not None
    note = notes.parse(note_bytes)
    key = notes.VerifierKey.parse(vkey(origin, signer.public_key))
    assert notes.verify(note, key)
    found_origin, size, root, extensions = merkle.parse_checkpoint_note_text(note.text)
    assert (found_origin, size, root) == (origin, 17, stored[-1].root)
    assert extensions == [
        f"position {stored[-1].position}",
        f"time {merkle.checkpoint_time(stored[-1].created_at)}",
    ]
    assert verify(Database(database_url)).ok


def test_the_origin_setting_names_the_log_and_a_log_keeps_its_origin(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer
) -> None:
    request(ledger, "A")
    with Database(database_url).projector() as conn:
        Sealer(Database(database_url), signer, origin="ledger.example.com/exports").catch_up(conn)
        request(ledger, "B")
        with pytest.raises(ConfigurationError, match="keeps its origin"):
            Sealer(Database(database_url), signer, origin="other.example.com/log").catch_up(conn)
        conn.rollback()
        assert (
            Sealer(Database(database_url), signer).catch_up(conn) == 1
        )  # unset: the stored origin
        assert {cp.origin for cp in all_checkpoints(conn)} == {"ledger.example.com/exports"}


def test_checkpoints_of_the_first_format_still_verify_beside_c2sp_ones(
    ledger: ExportLedger, database_url: str, signer: Ed25519Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = populate(ledger, database_url)
    with Database(database_url).projector() as conn:
        with monkeypatch.context() as before_upgrade:  # a ledger sealed before origins
            before_upgrade.setattr(sealer_module, "log_origin", lambda *_: None)
            Sealer(Database(database_url), signer, batch_size=8).catch_up(conn)
        assert latest_note(conn) is None
        ledger.record_download(exports["downloaded"], actor="A")
        complete(ledger, request(ledger, "C"))
        Sealer(Database(database_url), signer, batch_size=8).catch_up(conn)
        stored = all_checkpoints(conn)
        assert [cp.origin is None for cp in stored] == [True, True, True, False]
        old_bundle = proof_bundle(conn, exports["downloaded"], tree_size=stored[1].tree_size)
        new_bundle = proof_bundle(conn, exports["downloaded"], since=stored[0].tree_size)
    assert verify(Database(database_url), against=stored).ok
    assert verify_bundle(old_bundle) == [] and verify_bundle(new_bundle) == []
    for cp in stored:
        assert saved_checkpoint(cp.to_json()) == cp
    assert "origin" not in old_bundle["checkpoint"]
    assert new_bundle["checkpoint"]["note"].startswith(stored[-1].origin or "?")
