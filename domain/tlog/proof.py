"""Offline receipts: c2sp.org/tlog-proof, checked with this module, domain/tlog/notes.py and
domain/tlog/merkle.py alone (an auditor can copy the three files).

A proof is UTF-8 text::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's leaf bytes (domain/tlog/merkle.py)>
    index <the leaf's 0-based index, decimal>
    <base64 hash>                      the inclusion proof, the leaf's sibling first
    ...
    <a blank line>
    <the checkpoint note, cosignatures included, verbatim>

The ``extra`` line carries the entry, so the leaf hash is recomputed from it rather than
taken on trust: ``SHA-256(0x00 || extra)`` must be included at ``index`` in the tree the
checkpoint signs. A receipt of an export (``GET /api/exports/{id}/receipt``) is a JSON
object whose ``proofs`` are such texts, one per event.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.tlog import merkle, notes

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PATH = 63
_INDEX = re.compile(r"^index (0|[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class TlogProof:
    extra: bytes
    index: int
    path: list[bytes]
    checkpoint: bytes  # the note, as signed and cosigned

    def render(self) -> str:
        lines = [HEADER]
        if self.extra:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(node).decode() for node in self.path]
        return "\n".join(lines) + "\n\n" + self.checkpoint.decode()


def parse(text: str) -> TlogProof:
    """ValueError when ``text`` is not a tlog-proof."""
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != HEADER:
        raise ValueError(f"a proof starts with {HEADER!r} and has a blank line")
    extra = b""
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest.pop(0)[6:], "the extra data")
    matched = _INDEX.match(rest[0]) if rest else None
    if matched is None:
        raise ValueError("a proof has an 'index N' line")
    if len(rest) - 1 > MAX_PATH:
        raise ValueError(f"an inclusion proof has at most {MAX_PATH} hashes")
    path = [_b64(line, "a proof hash") for line in rest[1:]]
    if any(len(node) != 32 for node in path):
        raise ValueError("a proof hash is 32 bytes")
    return TlogProof(extra, int(matched.group(1)), path, checkpoint.encode())


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not base64") from None


def problems(
    proof: TlogProof,
    log_key: notes.VerifierKey,
    witnesses: Sequence[notes.VerifierKey] = (),
    quorum: int = 0,
) -> list[str]:
    """Everything wrong with the proof under this policy (empty: the entry is logged,
    and at least ``quorum`` of ``witnesses`` cosigned the checkpoint)."""
    try:
        note = notes.parse(proof.checkpoint)
        origin, size, root, _ = merkle.parse_checkpoint_note_text(note.text)
    except ValueError as error:
        return [f"the checkpoint is malformed: {error}"]
    found: list[str] = []
    if origin != log_key.name:
        found.append(f"the checkpoint is of log {origin!r}, not {log_key.name!r}")
    if not notes.verify(note, log_key):
        found.append(f"the checkpoint is not signed by {log_key.text()}")
    cosigned = notes.quorum(note, witnesses)
    if len(cosigned) < quorum:
        found.append(
            f"{len(cosigned)} of the trusted witnesses cosigned the checkpoint, {quorum} needed"
        )
    leaf = merkle.hash_leaf(proof.extra)
    if not merkle.verify_inclusion(leaf, proof.index, size, proof.path, root):
        found.append(f"entry {proof.index} is not included in the tree of size {size}")
    return found
