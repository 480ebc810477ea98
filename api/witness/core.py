"""The witness's add-checkpoint (c2sp.org/tlog-witness), without the web: parse the
request, check the checkpoint's signature and consistency, move the state, cosign.

The answers, in the order the spec checks them: 400 for a malformed request, 404 for a
log it does not know, 403 when no trusted key signed it, 400 when the old size exceeds
the checkpoint's, 409 (body: the size it holds, ``text/x.tlog.size``) when the old size
is not the one it cosigned last or a same-size checkpoint has another root, 422 when the
consistency proof does not prove it, else 200 with its cosignature line.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from api.witness.state import Latest, Refusal, State
from domain.tlog import merkle, notes
from projections.tlog.keys import Signer

SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF = 63
_OLD = re.compile(r"^old (0|[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class Request:
    old: int
    proof: list[bytes]
    note: notes.Note
    origin: str
    size: int
    root: bytes


def parse_request(body: bytes) -> Request:
    """ValueError (a NoteError among them) when the body is not an add-checkpoint."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise ValueError("the body is an old size line, proof lines, a blank line, a checkpoint")
    lines = head.split("\n")
    matched = _OLD.match(lines[0])
    if matched is None:
        raise ValueError(f"the first line is 'old <size>', not {lines[0][:40]!r}")
    if len(lines) - 1 > MAX_PROOF:
        raise ValueError(f"more than {MAX_PROOF} consistency proof lines")
    proof = [_hash(line) for line in lines[1:]]
    note = notes.parse(checkpoint.encode())
    origin, size, root, _ = merkle.parse_checkpoint_note_text(note.text)
    return Request(int(matched.group(1)), proof, note, origin, size, root)


def _hash(line: str) -> bytes:
    try:
        found = base64.b64decode(line, validate=True)
    except binascii.Error:
        raise ValueError(f"a proof line is not base64: {line[:60]!r}") from None
    if len(found) != 32:
        raise ValueError("a proof line is a 32-byte hash")
    return found


class Witness:
    def __init__(
        self,
        name: str,
        signer: Signer,
        logs: Mapping[str, Sequence[notes.VerifierKey]],
        state: State,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = notes.VerifierKey.of(name, signer.public_key, notes.COSIGNATURE_V1)
        self.signer = signer
        self.logs = logs
        self.state = state
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Latest | Refusal:
        try:
            request = parse_request(body)
        except ValueError as error:
            return Refusal(400, f"{error}\n")
        keys = self.logs.get(request.origin)
        if not keys:
            return Refusal(404, f"unknown log {request.origin!r}\n")
        if not any(notes.verify(request.note, key) for key in keys):
            return Refusal(403, f"no trusted key of {request.origin!r} signed the checkpoint\n")
        if request.old > request.size:
            return Refusal(400, f"old size {request.old} exceeds the checkpoint's {request.size}\n")
        return self.state.compare_and_swap(
            request.origin, lambda latest: self._decide(request, latest)
        )

    def _decide(self, request: Request, latest: Latest) -> Latest | Refusal:
        conflict = Refusal(409, f"{latest.size}\n", SIZE_TYPE)
        if request.old != latest.size:
            return conflict
        if request.old == request.size:
            if request.root != latest.root:
                return conflict
        elif not merkle.verify_consistency(
            request.old, request.size, request.proof, latest.root, request.root
        ):
            return Refusal(422, f"the proof does not prove {request.old} -> {request.size}\n")
        signature = notes.cosign(request.note.text, self.key, self.signer.sign, int(self.clock()))
        return Latest(request.size, request.root, request.note.render(), signature.line())
