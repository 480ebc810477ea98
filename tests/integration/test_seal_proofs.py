"""Inclusion and consistency proofs from the stored nodes, and the proof bundle
checked offline with domain.merkle alone."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.wiring.signing import Ed25519Signer, generate
from domain import merkle
from domain.application import ExportLedger
from domain.exceptions import CheckpointNotFound, ExportNotFound, InvalidExport
from domain.ids import aggregate_id
from projections.proofs import (
    checkpoint,
    consistency_proof,
    inclusion_proofs,
    latest_checkpoint,
    proof_bundle,
    verify_bundle,
)
from projections.sealer import all_checkpoints, row_leaf_hash
from sql.names import ADMIN_ROLE, READER_ROLE
from tests.integration.test_seal import populate, seal_all, stored_events

Conn = psycopg.Connection[Any]



@pytest.fixture
def exports(ledger: ExportLedger, database_url: str, signer: Ed25519Signer) -> dict[str, str]:
    found = populate(ledger, database_url)
    seal_all(database_url, signer, batch=3)
    return found


@pytest.fixture
def admin(database_url: str) -> Iterator[Conn]:
    with psycopg.connect(database_url, options=f"-c role={ADMIN_ROLE}", autocommit=True) as conn:
        yield conn


def test_inclusion_proofs_of_every_event_at_every_checkpoint(
    exports: dict[str, str], admin: Conn, database_url: str
) -> None:
    leaves = [row_leaf_hash(e) for e in stored_events(database_url)]
    for cp in all_checkpoints(admin):
        for export_id in exports.values():
            signed, proofs, unsealed = inclusion_proofs(admin, export_id, cp.tree_size)
            assert signed == cp
            for proof in proofs:
                assert proof.leaf_hash == leaves[proof.leaf_index]
                assert proof.path == merkle.inclusion_path(
                    proof.leaf_index, cp.tree_size, merkle.memory_nodes(leaves[: cp.tree_size])
                )
                assert merkle.verify_inclusion(
                    proof.leaf_hash, proof.leaf_index, cp.tree_size, proof.path, cp.root
                )
            assert all(p > cp.position for p in unsealed)
            assert len(proofs) + len(unsealed) == len(_versions(database_url, export_id))


def _versions(url: str, export_id: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_version FROM exportledger_events WHERE originator_id = %s",
            (aggregate_id(export_id),),
        ).fetchall()
    return [r[0] for r in rows]


def test_consistency_proofs_between_every_pair_of_sizes(
    exports: dict[str, str], admin: Conn
) -> None:
    latest = latest_checkpoint(admin)
    assert latest is not None
    size = latest.tree_size
    roots = {cp.tree_size: cp.root for cp in all_checkpoints(admin)}
    for size1 in roots:
        for size2 in roots:
            if size1 <= size2:
                proof = consistency_proof(admin, size1, size2)
                assert merkle.verify_consistency(size1, size2, proof, roots[size1], roots[size2])
    with pytest.raises(InvalidExport):
        consistency_proof(admin, 2, size + 1)
    with pytest.raises(InvalidExport):
        consistency_proof(admin, 0, size)


def test_unknown_exports_and_checkpoints_are_refused(exports: dict[str, str], admin: Conn) -> None:
    with pytest.raises(ExportNotFound):
        inclusion_proofs(admin, "exp_0000000000000000000BOGUS0")
    with pytest.raises(CheckpointNotFound):
        inclusion_proofs(admin, exports["keyed"], tree_size=5)
    assert checkpoint(admin, 5) is None


def test_a_reader_cannot_read_the_events_a_proof_needs(
    exports: dict[str, str], database_url: str
) -> None:
    with (
        psycopg.connect(database_url, options=f"-c role={READER_ROLE}") as reader,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        inclusion_proofs(reader, exports["keyed"])


@pytest.fixture
def bundle(exports: dict[str, str], admin: Conn) -> dict[str, Any]:
    found = proof_bundle(admin, exports["downloaded"], since=3)
    return json.loads(json.dumps(found))  # as an auditor reads it


def test_a_bundle_verifies_offline(bundle: dict[str, Any], signer: Ed25519Signer) -> None:
    assert len(bundle["events"]) == 5 and bundle["unsealed"] == []
    assert bundle["consistency"][0]["from"]["tree_size"] == 3
    assert verify_bundle(bundle) == []
    assert verify_bundle(bundle, frozenset({signer.key_id})) == []
    assert "not trusted" in verify_bundle(bundle, frozenset({"0" * 16}))[0]


def _state_with_a_changed_byte(event: dict[str, Any]) -> None:
    state = bytearray(base64.b64decode(event["state"]))
    state[len(state) // 2] ^= 1
    event["state"] = base64.b64encode(bytes(state)).decode()


def _swap_events(bundle: dict[str, Any]) -> None:
    events = bundle["events"]
    events[1]["version"], events[2]["version"] = events[2]["version"], events[1]["version"]


CHANGES = {
    "event state": lambda b: _state_with_a_changed_byte(b["events"][2]),
    "audit path": lambda b: b["events"][0]["path"].__setitem__(0, "00" * 32),
    "leaf index": lambda b: b["events"][0].__setitem__("leaf_index", 1),
    "root": lambda b: b["checkpoint"].__setitem__("root", "11" * 32),
    "tree size": lambda b: b["checkpoint"].__setitem__("tree_size", 16),
    "signature": lambda b: b["checkpoint"].__setitem__("signature", "22" * 64),
    "public key": lambda b: b["checkpoint"].__setitem__("public_key", generate().public_key.hex()),
    "old root": lambda b: b["consistency"][0]["from"].__setitem__("root", "33" * 32),
    "consistency": lambda b: b["consistency"][0]["proof"].__setitem__(0, "44" * 32),
    "version order": _swap_events,
    "another export": lambda b: b.__setitem__("export_id", "exp_0000000000000000000BOGUS0"),
    "a dropped event": lambda b: b["events"].pop(1),
    "format": lambda b: b.__setitem__("format", "something else"),
    "malformed": lambda b: b["events"][0].__setitem__("path", "zz"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_to_a_bundle_is_caught(bundle: dict[str, Any], change: str) -> None:
    changed = copy.deepcopy(bundle)
    CHANGES[change](changed)
    assert verify_bundle(changed) != []
