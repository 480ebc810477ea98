"""Response bodies of the sealed-ledger routes: keys, checkpoints and proofs.

Hashes, keys and signatures are lowercase hex, as in the proof bundles that
``export-ledger proof`` writes (see projections/tlog/proofs.py): a proof fetched over
HTTP is such a bundle and checks offline with ``export-ledger verify-proof``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http.schemas import EXAMPLE_ID
from domain import topics
from projections.tlog.proofs import BUNDLE_FORMAT

HEX64 = r"^[0-9a-f]{64}$"
_ROOT = "5f2b8c" + "0" * 58
_CHECKPOINT: dict[str, Any] = {
    "tree_size": 1042,
    "root": _ROOT,
    "position": 1042,
    "time": "2026-03-03T14:00:00.000000Z",
    "key_id": "3f9a0c1b2d4e5f60",
    "public_key": "9c" * 32,
    "signature": "ab" * 64,
}
_EVENT: dict[str, Any] = {
    "position": 17,
    "leaf_index": 16,
    "aggregate_id": "0b5c0a7e-4f55-5d0e-9d42-6a1f0c1d2e3f",
    "version": 1,
    "topic": topics.REQUESTED,
    "state": "eyJhY3RvciI6InVzZXItMTIzIn0=",
    "leaf_hash": "1d" * 32,
    "path": ["2e" * 32, "3f" * 32],
}


def example(**fields: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [fields]})


class KeyValidity(BaseModel):
    """A checkpoint key and the tree sizes it signs (``signs_from`` to before ``signs_until``)."""

    key_id: str
    public_key_hex: str = Field(description="The 32-byte raw public key, hex.")
    vkey: str | None = Field(
        default=None, description="The C2SP verifier key of the log's origin and this key."
    )
    signs_from: int = Field(ge=1)
    signs_until: int | None = Field(description="null: the current key")
    current: bool
    registered_at: datetime


class PublicKey(BaseModel):
    """An Ed25519 key that signs checkpoints."""

    model_config = example(
        key_id="3f9a0c1b2d4e5f60",
        algorithm="Ed25519",
        public_key_hex="9c" * 32,
        public_key_base64="nJycnJycnJycnJycnJycnJycnJycnJycnJycnJycnJw=",
        pem="-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEAnJycnJycnJycnJycnJycnJycnJycnJycnJycnJycnJw=\n"
        "-----END PUBLIC KEY-----\n",
        registered_at="2026-03-03T14:00:00Z",
        signs_from=1,
        signs_until=None,
        current=True,
        keys=[
            {
                "key_id": "3f9a0c1b2d4e5f60",
                "public_key_hex": "9c" * 32,
                "signs_from": 1,
                "signs_until": None,
                "current": True,
                "registered_at": "2026-03-03T14:00:00Z",
            }
        ],
    )
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key.")
    algorithm: Literal["Ed25519"]
    public_key_hex: str = Field(description="The 32-byte raw public key, hex.")
    public_key_base64: str = Field(description="The 32-byte raw public key, base64.")
    pem: str = Field(description="The key as a PEM SubjectPublicKeyInfo.")
    registered_at: datetime = Field(description="When it was registered.")
    signs_from: int = Field(ge=1, description="The smallest tree size this key signs.")
    signs_until: int | None = Field(
        description="The first tree size it no longer signs (it was retired); null: current."
    )
    current: bool = Field(description="Whether it signs new checkpoints.")
    origin: str | None = Field(
        default=None, description="The log's origin: the key name of its checkpoint notes."
    )
    vkey: str | None = Field(
        default=None,
        description="The C2SP verifier key (name+key id+base64 key) that opens the log's "
        "checkpoint notes signed by this key, e.g. with golang.org/x/mod/sumdb/note.",
    )
    keys: list[KeyValidity] = Field(
        description="Every checkpoint key, oldest first: which signs the checkpoint of a "
        "tree size, and which are retired."
    )


class CheckpointPublic(BaseModel):
    """A signed tree head: the first ``tree_size`` leaves hash to ``root``.

    The signature is over the text described in domain/tlog/merkle.py: a C2SP checkpoint
    note's text when it has an origin, the first format's otherwise."""

    model_config = example(**_CHECKPOINT)
    tree_size: int = Field(ge=1)
    root: str = Field(pattern=HEX64, description="RFC 6962 Merkle tree hash, hex.")
    position: int = Field(description="Log position of the last leaf.")
    time: str = Field(description="When it was signed, as signed (UTC, microseconds, Z).")
    key_id: str
    public_key: str | None = Field(description="The signer's raw public key, hex.")
    signature: str = Field(description="Ed25519 signature, hex.")
    origin: str | None = Field(
        default=None, description="The log's origin; null: a checkpoint of the first format."
    )
    note: str | None = Field(
        default=None, description="The checkpoint as a C2SP signed note (GET /checkpoint)."
    )


class EventProofPublic(BaseModel):
    """One stored event, its leaf hash and the audit path to the checkpoint's root."""

    model_config = example(**_EVENT)
    position: int
    leaf_index: int = Field(description="0-based index of the event's leaf.")
    aggregate_id: str
    version: int
    topic: str
    state: str = Field(description="The stored state bytes, base64.")
    leaf_hash: str = Field(pattern=HEX64)
    path: list[str] = Field(description="RFC 6962 inclusion proof, leaf first, hex.")


class ConsistencyLink(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: CheckpointPublic = Field(alias="from", description="The older checkpoint.")
    proof: list[str] = Field(description="RFC 6962 consistency proof to the bundle's checkpoint.")


class ProofBundle(BaseModel):
    """An export's events and their inclusion in a signed checkpoint."""

    model_config = example(
        format=BUNDLE_FORMAT,
        export_id=EXAMPLE_ID,
        checkpoint=_CHECKPOINT,
        events=[_EVENT],
        unsealed=[],
        consistency=[],
    )
    format: Literal["export-ledger proof v1"]
    export_id: str
    checkpoint: CheckpointPublic
    events: list[EventProofPublic]
    unsealed: list[int] = Field(description="Positions of the export's events not yet sealed.")
    consistency: list[ConsistencyLink]


class ConsistencyProof(BaseModel):
    """RFC 6962 proof that the tree of ``to.tree_size`` leaves extends the one of
    ``from.tree_size``: nothing sealed was changed or removed in between."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": {**_CHECKPOINT, "tree_size": 1000, "position": 1000},
                    "to": _CHECKPOINT,
                    "proof": ["4a" * 32, "5b" * 32],
                }
            ]
        },
    )
    from_: CheckpointPublic = Field(alias="from")
    to: CheckpointPublic
    proof: list[str]


class ReceiptProof(BaseModel):
    position: int = Field(description="The event's log position.")
    version: int = Field(description="The event's version in its export.")
    proof: str = Field(
        description="A c2sp.org/tlog-proof: the leaf bytes (extra), the index, the inclusion "
        "proof and the cosigned checkpoint note."
    )


class Receipt(BaseModel):
    """An offline receipt: ``export-ledger verify-proof FILE --vkey VKEY`` checks it."""

    format: Literal["export-ledger receipt v1"]
    export_id: str
    origin: str = Field(description="The log's origin.")
    tree_size: int = Field(description="The size of the checkpoint every proof is against.")
    proofs: list[ReceiptProof]
    unsealed: list[int] = Field(description="Positions of the export's events not yet sealed.")
    witnessed: bool = Field(
        description="Whether the checkpoint has the cosignatures the ledger's witness policy "
        "asks for (EXPORT_LEDGER_WITNESS_QUORUM of EXPORT_LEDGER_WITNESSES)."
    )
    witnesses: list[str] = Field(
        description="The vkeys of the configured witnesses that cosigned the checkpoint."
    )
