"""The sealed log over HTTP (under /api/ledger): signing key, signed checkpoints, inclusion and
consistency proofs. A proof is the bundle ``export-ledger verify-proof`` checks
offline (projections/tlog/proofs.py), so nobody has to trust this server."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Depends, Query

from api.http import problems
from api.http.deps import LedgerDep, PrincipalDep, ReadsDep, ServicesDep, known_query_only
from api.http.ownership import owned
from api.http.problems import Problem, invalid_field
from api.http.routes.common import ExportIdPath
from api.http.schemas import MAX_INTEGER
from api.http.schemas_seal import (
    CheckpointPublic,
    ConsistencyProof,
    KeyValidity,
    ProofBundle,
    PublicKey,
    Receipt,
)
from api.wiring.witnesses import configured
from projections.reads.sessions import pooled_session
from projections.tlog.checkpoints import (
    Checkpoint,
    checkpoint,
    known_origin,
    latest_checkpoint,
    latest_note_checkpoint,
    vkey,
)
from projections.tlog.keys import SigningKey, all_keys
from projections.tlog.proofs import consistency_proof
from projections.tlog.proofs import proof_bundle as make_bundle
from projections.tlog.receipts import receipt
from projections.tlog.witnessing import witnessed_by
from sql.names import ADMIN_ROLE, READER_ROLE

router = APIRouter(tags=["ledger"], dependencies=[Depends(known_query_only)])

TreeSize = Annotated[
    int | None,
    Query(ge=1, le=MAX_INTEGER, description="A checkpoint's tree size (default: the latest)."),
]
KeyId = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9a-f]{16}$",
        description="A registered key's id (default: the current key).",
    ),
]
Size = Annotated[int, Query(ge=1, le=MAX_INTEGER)]


def _no_checkpoint(tree_size: int | None) -> Problem:
    what = "no checkpoint yet" if tree_size is None else f"no checkpoint of tree size {tree_size}"
    return Problem(404, what, kind="checkpoint-not-found")


def _signed(conn: Any, tree_size: int | None) -> Checkpoint:
    found = latest_checkpoint(conn) if tree_size is None else checkpoint(conn, tree_size)
    if found is None:
        raise _no_checkpoint(tree_size)
    return found


@router.get(
    "/api/ledger/public-key",
    response_model=PublicKey,
    summary="The Ed25519 key that signs checkpoints, and every key that did",
    description="The current key (or the one asked for), and under `keys` every registered "
    "key with the tree sizes it signs: a checkpoint verifies with the key of its size.",
    responses=problems.responses(401, 404, 422, 503),
)
def public_key(
    _: PrincipalDep, reads: ReadsDep, services: ServicesDep, key_id: KeyId = None
) -> PublicKey:
    with pooled_session(reads, READER_ROLE) as conn:
        found = all_keys(conn)
        first = found[0].key_id if found else None
        origin = known_origin(conn, services.settings.log_origin, first)
    chosen = [k for k in found if k.key_id == key_id] if key_id else found[-1:]
    if not chosen:
        detail = f"no key {key_id!r}" if key_id else "no checkpoint signed yet"
        raise Problem(404, detail, kind="key-not-found")
    key = chosen[0]
    pem = Ed25519PublicKey.from_public_bytes(key.public_key).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey(
        key_id=key.key_id,
        algorithm="Ed25519",
        public_key_hex=key.public_key.hex(),
        public_key_base64=base64.b64encode(key.public_key).decode(),
        pem=pem.decode(),
        registered_at=key.registered_at,
        signs_from=key.signs_from,
        signs_until=key.signs_until,
        current=key.current,
        origin=origin,
        vkey=vkey(origin, key.public_key) if origin else None,
        keys=[_validity(k, origin) for k in found],
    )


def _validity(key: SigningKey, origin: str | None) -> KeyValidity:
    return KeyValidity(
        key_id=key.key_id,
        public_key_hex=key.public_key.hex(),
        vkey=vkey(origin, key.public_key) if origin else None,
        signs_from=key.signs_from,
        signs_until=key.signs_until,
        current=key.current,
        registered_at=key.registered_at,
    )


@router.get(
    "/api/ledger/checkpoint",
    response_model=CheckpointPublic,
    summary="A signed checkpoint: the latest, or the one of a tree size",
    responses=problems.responses(401, 404, 422, 503),
)
def get_checkpoint(_: PrincipalDep, reads: ReadsDep, tree_size: TreeSize = None) -> Any:
    with pooled_session(reads, READER_ROLE) as conn:
        return _signed(conn, tree_size).to_json()


@router.get(
    "/api/ledger/consistency",
    response_model=ConsistencyProof,
    summary="Proof that a later checkpoint extends an earlier one",
    description="Both sizes must be checkpoints' tree sizes, `from` at most `to`.",
    responses=problems.responses(401, 404, 422, 503),
)
def consistency(
    _: PrincipalDep,
    reads: ReadsDep,
    size1: Annotated[int, Query(alias="from", ge=1, le=MAX_INTEGER)],
    size2: Annotated[int, Query(alias="to", ge=1, le=MAX_INTEGER)],
) -> Any:
    if size1 > size2:
        raise invalid_field("query.from", f"must not exceed to ({size2})")
    with pooled_session(reads, READER_ROLE) as conn:
        older, newer = _signed(conn, size1), _signed(conn, size2)
        proof = consistency_proof(conn, size1, size2)
    return {"from": older.to_json(), "to": newer.to_json(), "proof": [p.hex() for p in proof]}


@router.get(
    "/api/exports/{export_id}/proof",
    response_model=ProofBundle,
    summary="Inclusion proofs of an export's events in a signed checkpoint",
    description="The owner or an admin only. The answer is a proof bundle: "
    "`export-ledger verify-proof FILE` checks it offline.",
    responses=problems.responses(401, 404, 422, 503),
)
def export_proof(
    export_id: ExportIdPath,
    principal: PrincipalDep,
    ledger: LedgerDep,
    reads: ReadsDep,
    tree_size: TreeSize = None,
    since: Annotated[
        int | None,
        Query(ge=1, le=MAX_INTEGER, description="Add a consistency proof from this checkpoint."),
    ] = None,
) -> Any:
    owned(ledger, principal, export_id, include_deleted=True)
    with pooled_session(reads, ADMIN_ROLE) as conn:
        if since is not None and tree_size is None:
            tree_size = _signed(conn, None).tree_size
        if since is not None and tree_size is not None and since > tree_size:
            raise invalid_field("query.since", f"must not exceed tree_size ({tree_size})")
        return make_bundle(conn, export_id, tree_size, since)


@router.get(
    "/api/exports/{export_id}/receipt",
    response_model=Receipt,
    summary="An offline receipt: a tlog-proof of each of an export's events",
    description="The owner or an admin only. Each proof is a c2sp.org/tlog-proof against the "
    "latest C2SP checkpoint with the witnesses' cosignatures: `export-ledger verify-proof FILE "
    "--vkey VKEY [--witness VKEY ... --k N]` checks the saved answer with no server.",
    responses=problems.responses(401, 404, 422, 503),
)
def export_receipt(
    export_id: ExportIdPath,
    principal: PrincipalDep,
    ledger: LedgerDep,
    reads: ReadsDep,
    services: ServicesDep,
) -> Any:
    owned(ledger, principal, export_id, include_deleted=True)
    with pooled_session(reads, ADMIN_ROLE) as conn:
        found = receipt(conn, export_id)
        signed = latest_note_checkpoint(conn)
        policy = configured(services.settings)
        by = witnessed_by(signed, conn, policy) if signed is not None else []
        quorum = services.settings.witness_quorum
    needed = len(policy) if quorum is None else quorum
    keys = {w.name: w.key.text() for w in policy}
    return {
        **found,
        "witnessed": bool(policy) and len(by) >= needed,
        "witnesses": [keys[n] for n in by],
    }
