"""Proofs over the sealed log, and the proof bundle an auditor checks offline.

The connection must be able to read the stored events (the admin or projector
role): a proof carries each event's stored bytes, so its leaf is recomputed by
whoever checks it rather than taken on trust.

A bundle (``export-ledger proof``, ``verify-proof``) is JSON::

    {"format": "export-ledger proof v1", "export_id": "exp_...",
     "checkpoint": CHECKPOINT,
     "events": [{"position", "leaf_index", "aggregate_id" (UUID text), "version",
                 "topic", "state" (base64), "leaf_hash" (hex), "path" ([hex, ...])}],
     "unsealed": [positions of the export's events the checkpoint does not cover],
     "consistency": [{"from": CHECKPOINT, "proof": [hex, ...]}]}

where CHECKPOINT is :meth:`projections.tlog.checkpoints.Checkpoint.to_json`, the same line
``export-ledger checkpoints`` writes. Hashes and signatures are lowercase hex.

A bundle or checkpoint read back from a file may be anything: :func:`saved_checkpoint`
and :func:`verify_bundle` take what they are given apart field by field, and any
malformed part is a ValueError (or KeyError, TypeError), never a crash further on.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from uuid import UUID

import psycopg

from domain.exceptions import CheckpointNotFound, ExportNotFound, InvalidExport
from domain.exports.ids import aggregate_id
from domain.tlog import merkle
from projections.tlog.checkpoints import Checkpoint, checkpoint, latest_checkpoint
from projections.tlog.sealer import fetch_nodes, leaf_count
from sql import statement

Connection = psycopg.Connection[Any]
BUNDLE_FORMAT = "export-ledger proof v1"
EXAMPLES_PER_KIND = 20
BIGINT_MAX = 2**63 - 1  # positions, versions and tree sizes are PostgreSQL bigints



@dataclass(frozen=True, slots=True)
class EventProof:
    position: int
    aggregate_id: bytes
    version: int
    topic: str
    state: bytes
    leaf_index: int
    leaf_hash: bytes
    path: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "leaf_index": self.leaf_index,
            "aggregate_id": str(UUID(bytes=self.aggregate_id)),
            "version": self.version,
            "topic": self.topic,
            "state": base64.b64encode(self.state).decode(),
            "leaf_hash": self.leaf_hash.hex(),
            "path": [node.hex() for node in self.path],
        }


def _require_checkpoint(conn: Connection, tree_size: int | None) -> Checkpoint:
    found = latest_checkpoint(conn) if tree_size is None else checkpoint(conn, tree_size)
    if found is None:
        what = "no checkpoint yet" if tree_size is None else f"no checkpoint of size {tree_size}"
        raise CheckpointNotFound(f"{what}: the sealer has not sealed that far")
    return found


def inclusion_proofs(
    conn: Connection, export_id: str, tree_size: int | None = None
) -> tuple[Checkpoint, list[EventProof], list[int]]:
    """The checkpoint (the latest, or of ``tree_size`` leaves), an inclusion proof
    for each of the export's events it covers, and the positions it does not."""
    signed = _require_checkpoint(conn, tree_size)
    rows = conn.execute(
        statement("seal", "export_leaves"), {"aggregate_id": aggregate_id(export_id)}
    ).fetchall()
    if not rows:
        raise ExportNotFound(export_id)
    size = signed.tree_size
    sealed = [r for r in rows if r[5] is not None and r[5] < size]
    ranges = [rng for r in sealed for rng in merkle.inclusion_ranges(r[5], size)]
    found = fetch_nodes(conn, merkle.nodes_needed(ranges))

    def node(level: int, index: int) -> bytes:
        return found[level, index]

    proofs = [
        EventProof(*_event(r), int(r[5]), bytes(r[6]), merkle.inclusion_path(r[5], size, node))
        for r in sealed
    ]
    unsealed = [int(r[0]) for r in rows if r[5] is None or r[5] >= size]
    return signed, proofs, unsealed


def _event(row: Any) -> tuple[int, bytes, int, str, bytes]:
    return int(row[0]), bytes(row[1]), int(row[2]), row[3] or "", bytes(row[4] or b"")


def consistency_proof(conn: Connection, size1: int, size2: int) -> list[bytes]:
    """RFC 6962 consistency proof between two sizes of the sealed tree."""
    sealed = leaf_count(conn)
    if not 0 < size1 <= size2 <= sealed:
        raise InvalidExport(f"need 0 < size1 <= size2 <= {sealed}, not {size1} and {size2}")
    ranges = merkle.consistency_ranges(size1, size2)
    found = fetch_nodes(conn, merkle.nodes_needed(ranges))
    return merkle.consistency_path(size1, size2, lambda level, index: found[level, index])


def proof_bundle(
    conn: Connection, export_id: str, tree_size: int | None = None, since: int | None = None
) -> dict[str, Any]:
    """The JSON bundle of an export's inclusion proofs (see the module docstring);
    with ``since``, also the consistency proof from that older checkpoint."""
    signed, proofs, unsealed = inclusion_proofs(conn, export_id, tree_size)
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "export_id": export_id,
        "checkpoint": signed.to_json(),
        "events": [p.to_json() for p in proofs],
        "unsealed": unsealed,
        "consistency": [],
    }
    if since is not None:
        older = _require_checkpoint(conn, since)
        proof = consistency_proof(conn, older.tree_size, signed.tree_size)
        bundle["consistency"].append({"from": older.to_json(), "proof": [p.hex() for p in proof]})
    return bundle


def stored_int(value: Any, what: str) -> int:
    """A position, version, leaf index or tree size read from a file: an integer
    (as a JSON number or a CSV cell) from 0 to :data:`BIGINT_MAX`."""
    if isinstance(value, float) and not value.is_integer():  # also inf and nan
        raise ValueError(f"{what} is not an integer: {value!r}")
    number = int(value)
    if not 0 <= number <= BIGINT_MAX:
        raise ValueError(f"{what} is out of range (0 to {BIGINT_MAX})")
    return number


def saved_checkpoint(data: Any) -> Checkpoint:
    """A checkpoint read from a file (a 'checkpoints' line, or a bundle's)."""
    if not isinstance(data, dict):
        raise TypeError(f"a checkpoint is a JSON object, not {type(data).__name__}")
    for name in ("tree_size", "position"):
        stored_int(data[name], name)
    found = Checkpoint.from_json(data)
    if found.created_at.tzinfo is None:
        raise ValueError(f"its time {data['time']!r} has no timezone")
    try:
        found.created_at.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"its time {data['time']!r} is out of range in UTC") from None
    return found


def verify_bundle(bundle: Any, trusted: frozenset[str] | None = None) -> list[str]:
    """Everything wrong with a proof bundle, checked with domain.tlog.merkle alone
    (an empty list: the export's events are in the signed log)."""
    try:
        if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
            return [f"not a proof bundle of format {BUNDLE_FORMAT!r}"]
        signed = saved_checkpoint(bundle["checkpoint"])
        problems = _checkpoint_problems("checkpoint", signed, trusted)
        expected_id = aggregate_id(str(bundle["export_id"]))
        for number, event in enumerate(_listed(bundle, "events"), start=1):
            problems += _event_problems(event, number, expected_id, signed)
        for link in _listed(bundle, "consistency", optional=True):
            problems += _consistency_problems(link, signed, trusted)
    except (KeyError, TypeError, ValueError) as error:
        return [f"malformed bundle: {error!r}"]
    return problems


def _listed(bundle: dict[str, Any], name: str, optional: bool = False) -> list[Any]:
    found = bundle.get(name, []) if optional else bundle[name]
    if not isinstance(found, list):
        raise TypeError(f"{name} is a JSON list, not {type(found).__name__}")
    return found


def _checkpoint_problems(
    label: str, signed: Checkpoint, trusted: frozenset[str] | None
) -> list[str]:
    problem = signed.signature_problem(trusted)
    return [] if problem is None else [f"{label} of size {signed.tree_size}: {problem}"]


def _event_problems(
    event: dict[str, Any], version: int, expected_id: UUID, signed: Checkpoint
) -> list[str]:
    position = stored_int(event["position"], "position")
    index = stored_int(event["leaf_index"], "leaf_index")
    stored_version = stored_int(event["version"], "version")
    aggregate = UUID(str(event["aggregate_id"]))
    state = base64.b64decode(str(event["state"]), validate=True)
    leaf = merkle.leaf_hash(position, aggregate.bytes, stored_version, str(event["topic"]), state)
    path = [bytes.fromhex(node) for node in event["path"]]
    where = f"event at position {position}"
    if aggregate != expected_id:
        return [f"{where} belongs to another aggregate ({aggregate})"]
    if stored_version != version:
        return [f"{where} is version {event['version']}, expected {version}"]
    if leaf.hex() != event["leaf_hash"]:
        return [f"{where}: its data does not hash to the leaf hash given"]
    if not merkle.verify_inclusion(leaf, index, signed.tree_size, path, signed.root):
        return [f"{where}: not included at leaf {index} of the signed tree"]
    return []


def _consistency_problems(
    link: dict[str, Any], signed: Checkpoint, trusted: frozenset[str] | None
) -> list[str]:
    older = saved_checkpoint(link["from"])
    problems = _checkpoint_problems("older checkpoint", older, trusted)
    proof = [bytes.fromhex(node) for node in link["proof"]]
    if not merkle.verify_consistency(
        older.tree_size, signed.tree_size, proof, older.root, signed.root
    ):
        problems.append(
            f"the tree of size {signed.tree_size} does not extend the one of size {older.tree_size}"
        )
    return problems


@dataclass(frozen=True, slots=True)
class Problem:
    position: int
    kind: str
    message: str


@dataclass
class Problems:
    """What a check found wrong: a few examples of each kind (one deleted event
    misplaces every later leaf), and how many of each kind there were."""

    examples: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, position: int, kind: str, message: str, count: int = 1) -> None:
        """Count ``count`` problems of ``kind``; keep this one as an example."""
        seen = self.counts.get(kind, 0)
        self.counts[kind] = seen + count
        if seen < EXAMPLES_PER_KIND and message:
            self.examples.append(Problem(position, kind, message))

    def merge(self, other: Problems) -> None:
        self.examples += other.examples
        for kind, count in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def sorted(self) -> list[Problem]:
        return sorted(self.examples, key=lambda p: (p.position, p.kind))


def checkpoint_problems(
    stored: Sequence[Checkpoint],
    saved: Sequence[Checkpoint],
    trusted: frozenset[str] | None,
    label: str = "saved checkpoint",
) -> Iterator[tuple[int, str, str]]:
    """(position, kind, message) for each stored checkpoint whose signature fails
    and each saved one (kept outside the database) that the database no longer has
    exactly as saved."""
    for cp in stored:
        if problem := cp.signature_problem(trusted):
            yield cp.position, "signature", f"checkpoint of size {cp.tree_size}: {problem}"
    by_size = {cp.tree_size: cp for cp in stored}
    for cp in saved:
        where = f"{label} of size {cp.tree_size}"
        if problem := cp.signature_problem():
            yield cp.position, "signature", f"{where}: {problem}"
        ours = by_size.get(cp.tree_size)
        if ours is None:
            yield cp.position, "resigned", f"{where} is missing from the database"
        elif ours != cp:
            yield (
                cp.position,
                "resigned",
                f"{where} differs from the database's, signed by key {ours.key_id} "
                f"(saved: key {cp.key_id}, root {cp.root.hex()[:16]}...; "
                f"database: root {ours.root.hex()[:16]}...)",
            )
