"""A log in memory for the witness tests: its leaves, checkpoint notes signed with a key
of the test's own, consistency proofs and add-checkpoint bodies."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from api.wiring.signing import Ed25519Signer, generate
from domain.tlog import merkle, notes
from projections.tlog.checkpoints import Checkpoint


@dataclass
class MemoryLog:
    origin: str = "log.example/test"
    signer: Ed25519Signer = field(default_factory=generate)
    leaves: list[bytes] = field(
        default_factory=lambda: [merkle.hash_leaf(b"leaf %d" % i) for i in range(64)]
    )

    @property
    def vkey(self) -> notes.VerifierKey:
        return notes.VerifierKey.of(self.origin, self.signer.public_key)

    def root(self, size: int) -> bytes:
        return merkle.root(self.leaves[:size])

    def note(
        self, size: int, root: bytes | None = None, signer: Ed25519Signer | None = None
    ) -> bytes:
        key = signer or self.signer
        unsigned = Checkpoint(
            size,
            root or self.root(size),
            size,
            datetime.now(UTC),
            key.key_id,
            b"",
            key.public_key,
            self.origin,
        )
        return replace(unsigned, signature=key.sign(unsigned.text())).note().render()

    def proof(self, old: int, size: int) -> list[bytes]:
        if old == 0:
            return []
        return merkle.consistency_path(old, size, merkle.memory_nodes(self.leaves[:size]))


def add_body(old: int, proof: list[bytes], note: bytes) -> bytes:
    lines = b"".join(base64.b64encode(p) + b"\n" for p in proof)
    return b"old %d\n" % old + lines + b"\n" + note
