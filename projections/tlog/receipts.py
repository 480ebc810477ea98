"""An export's offline receipt: a c2sp.org/tlog-proof (domain/tlog/proof.py) for each of
its events against the latest C2SP checkpoint, with the witnesses' cosignatures. The
connection must read the stored events (the admin role). As JSON::

    {"format": "export-ledger receipt v1", "export_id": "exp_...", "origin": ORIGIN,
     "tree_size": N, "proofs": [{"position", "version", "proof": TLOG-PROOF TEXT}],
     "unsealed": [positions the checkpoint does not cover yet]}
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.exceptions import CheckpointNotFound
from domain.tlog import merkle
from domain.tlog import proof as tlog_proof
from projections.tlog.checkpoints import cosignatures, latest_note_checkpoint
from projections.tlog.proofs import inclusion_proofs

Connection = psycopg.Connection[Any]
RECEIPT_FORMAT = "export-ledger receipt v1"


def receipt(conn: Connection, export_id: str) -> dict[str, Any]:
    signed = latest_note_checkpoint(conn)
    if signed is None or signed.origin is None:
        raise CheckpointNotFound("no C2SP checkpoint yet: the sealer has not signed one")
    _, proofs, unsealed = inclusion_proofs(conn, export_id, signed.tree_size)
    note = signed.note(cosignatures(conn, signed.tree_size)).render()
    return {
        "format": RECEIPT_FORMAT,
        "export_id": export_id,
        "origin": signed.origin,
        "tree_size": signed.tree_size,
        "proofs": [
            {
                "position": p.position,
                "version": p.version,
                "proof": tlog_proof.TlogProof(
                    merkle.leaf_bytes(p.position, p.aggregate_id, p.version, p.topic, p.state),
                    p.leaf_index,
                    p.path,
                    note,
                ).render(),
            }
            for p in proofs
        ],
        "unsealed": unsealed,
    }


def receipt_problems(data: Any, expected_aggregate: UUID | None, check: Any) -> list[str]:
    """Everything wrong with a receipt read from a file; ``check`` is
    :func:`domain.tlog.proof.problems` with the policy bound."""
    if not isinstance(data, dict) or data.get("format") != RECEIPT_FORMAT:
        return [f"not a receipt of format {RECEIPT_FORMAT!r}"]
    found: list[str] = []
    listed = data.get("proofs")
    if not isinstance(listed, list) or not listed:
        return ["a receipt lists its proofs"]
    for number, item in enumerate(listed, start=1):
        where = f"proof {number}"
        try:
            proof = tlog_proof.parse(str(item["proof"]))
        except (KeyError, TypeError, ValueError) as error:
            found.append(f"{where} is malformed: {error}")
            continue
        found += [f"{where}: {problem}" for problem in check(proof)]
        if expected_aggregate is not None and proof.extra[8:24] != expected_aggregate.bytes:
            found.append(f"{where} is of another aggregate's event")
    return found
