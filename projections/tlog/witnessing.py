"""Witnesses cosign the log's checkpoints (c2sp.org/tlog-witness, tlog-cosignature).

After the sealer signs a C2SP checkpoint, :class:`Cosigners` asks every configured
witness to cosign it: ``old <size it cosigned last>``, the consistency proof from that
size, and the note. A 200 carries its cosignature lines, which are verified with the
witness's key and kept in ``ledger_cosignatures``; a 409 tells the size the witness
holds, from which the request is made once more. A witness that is down, slow or refuses
never holds the sealer up: cosigning runs on its own thread, and a checkpoint a witness
missed is covered by its next one (a cosignature vouches for every smaller tree).

A checkpoint counts as *witnessed* when at least ``quorum`` of the configured witnesses
cosigned it (:func:`report`). The HTTP transport is passed in (api/wiring/witnesses.py).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from opentelemetry import trace

from domain.exceptions import ExportLedgerError
from domain.tlog import notes
from projections.db.database import Database
from projections.tlog.checkpoints import Checkpoint, cosignatures, latest_note_checkpoint
from projections.tlog.proofs import consistency_proof
from sql import statement
from sql.names import SEALED_CHANNEL

Connection = psycopg.Connection[Any]
Post = Callable[[str, bytes], tuple[int, bytes]]  # (URL, body) -> (status, body); OSError
log = logging.getLogger("export_ledger.witnessing")
_tracer = trace.get_tracer("export_ledger")


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    key: notes.VerifierKey  # type 0x04
    url: str  # the submission prefix: POST <url>/add-checkpoint

    @property
    def name(self) -> str:
        return self.key.name


@dataclass
class Attempt:
    """What this process last heard from a witness."""

    held: int | None = None  # the size it holds (a 200 or a 409 said so)
    error: str | None = None
    at: float | None = None  # time.time() of the last attempt


def add_checkpoint_body(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    lines = b"".join(base64.b64encode(p) + b"\n" for p in proof)
    return b"old %d\n" % old + lines + b"\n" + note


def cosigned_sizes(conn: Connection) -> dict[tuple[str, bytes], int]:
    rows = conn.execute(statement("seal", "witness_sizes")).fetchall()
    return {(str(r[0]), bytes(r[1])): int(r[2]) for r in rows}


def keep(conn: Connection, checkpoint: Checkpoint, signature: notes.Signature) -> None:
    conn.execute(
        statement("seal", "insert_cosignature"),
        {
            "tree_size": checkpoint.tree_size,
            "witness": signature.name,
            "key_id": signature.key_id,
            "cosigned_at": notes.cosignature_time(signature),
            "signature": signature.signature[8:],
        },
    )


class Cosigners:
    """Asks the witnesses to cosign the latest C2SP checkpoint, until stopped."""

    def __init__(
        self, db: Database, witnesses: Sequence[WitnessConfig], post: Post, *, poll: float = 1.0
    ) -> None:
        self.db = db
        self.witnesses = list(witnesses)
        self.post = post
        self.poll = poll
        self.attempts = {w.name: Attempt() for w in self.witnesses}
        self.stopping = threading.Event()

    def submit_all(self, conn: Connection) -> int:
        """One round: each witness behind the latest checkpoint is asked; returns how
        many cosigned it."""
        latest = latest_note_checkpoint(conn)
        conn.commit()
        if latest is None:
            return 0
        kept = cosigned_sizes(conn)
        conn.commit()
        done = 0
        for witness in self.witnesses:
            cosigned = kept.get((witness.name, witness.key.key_id), 0)
            if cosigned >= latest.tree_size:
                continue
            done += self._submit(conn, witness, latest, cosigned)
        return done

    def _submit(
        self, conn: Connection, witness: WitnessConfig, latest: Checkpoint, old: int
    ) -> int:
        attempt = self.attempts[witness.name]
        attempt.at = time.time()
        old = attempt.held if attempt.held is not None and attempt.held <= latest.tree_size else old
        note = latest.note().render()
        for _ in range(2):  # a 409 names the size to try from, once
            try:
                proof = consistency_proof(conn, old, latest.tree_size) if old else []
                conn.commit()
                with _tracer.start_as_current_span(
                    "witness add-checkpoint",
                    attributes={"witness.name": witness.name, "ledger.tree_size": latest.tree_size},
                ) as span:
                    status, body = self.post(
                        witness.url + "/add-checkpoint", add_checkpoint_body(old, proof, note)
                    )
                    span.set_attribute("http.response.status_code", status)
            except (OSError, ValueError, ExportLedgerError) as error:
                conn.rollback()
                attempt.error = f"{type(error).__name__}: {error}"
                return 0
            if status == 200:
                return self._accept(conn, witness, latest, note, body, attempt)
            held = _size(body) if status == 409 else None
            attempt.error = f"HTTP {status}: {body[:200].decode(errors='replace').strip()}"
            if held is None or held == old:
                return 0
            attempt.held = held
            if held > latest.tree_size:
                attempt.error = f"holds size {held}, beyond the log's {latest.tree_size}: a fork?"
                return 0
            old = held
        return 0

    def _accept(
        self,
        conn: Connection,
        witness: WitnessConfig,
        latest: Checkpoint,
        note: bytes,
        body: bytes,
        attempt: Attempt,
    ) -> int:
        try:
            cosigned = notes.parse(note + body)
        except notes.NoteError as error:
            attempt.error = f"malformed cosignature: {error}"
            return 0
        found = notes.signature_for(cosigned, witness.key)
        if found is None or notes.verify_cosignature(cosigned, witness.key) is None:
            attempt.error = "no valid cosignature by its key in the answer"
            return 0
        with conn.transaction():
            keep(conn, latest, found)
        attempt.held, attempt.error = latest.tree_size, None
        return 1

    def run_forever(self) -> None:
        """:meth:`run`, started again 1 s after the database failed it, until stopped
        (``project`` runs it so; ``serve``'s projector restarts its workers itself)."""
        while not self.stopping.is_set():
            try:
                self.run()
            except psycopg.Error as error:
                log.warning("cosigners stopped: %s; restarting in 1 s", error)
                self.stopping.wait(1.0)

    def run(self) -> None:
        """Until :meth:`stop`: a round after each sealed batch (or every ``poll`` s)."""
        with (
            self.db.projector(autocommit=True) as listener,
            self.db.projector() as conn,
        ):
            listener.execute(statement("channels", "listen", channel=SEALED_CHANNEL))
            while not self.stopping.is_set():
                self.submit_all(conn)
                for _ in listener.notifies(timeout=self.poll, stop_after=1):
                    pass

    def stop(self) -> None:
        self.stopping.set()


def _size(body: bytes) -> int | None:
    text = body.decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True, slots=True)
class WitnessState:
    name: str
    url: str
    cosigned_size: int  # the largest checkpoint it cosigned (0: none)
    lag: int  # leaves of the latest checkpoint it has not cosigned
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    tree_size: int  # of the latest C2SP checkpoint (0: none)
    quorum: int
    witnesses: list[WitnessState] = field(default_factory=list)

    @property
    def cosigned(self) -> int:
        return sum(1 for w in self.witnesses if w.lag == 0 and w.cosigned_size > 0)

    @property
    def witnessed(self) -> bool:
        return self.tree_size > 0 and self.cosigned >= self.quorum


def report(
    conn: Connection,
    witnesses: Sequence[WitnessConfig],
    quorum: int | None,
    attempts: dict[str, Attempt] | None = None,
) -> Report:
    """Each witness's last cosigned size and lag behind the latest checkpoint."""
    latest = latest_note_checkpoint(conn)
    size = latest.tree_size if latest is not None else 0
    kept = cosigned_sizes(conn)
    states = []
    for w in witnesses:
        cosigned = kept.get((w.name, w.key.key_id), 0)
        error = attempts[w.name].error if attempts and w.name in attempts else None
        states.append(WitnessState(w.name, w.url, cosigned, max(size - cosigned, 0), error))
    return Report(size, len(witnesses) if quorum is None else quorum, states)


def witnessed_by(
    checkpoint: Checkpoint, conn: Connection, witnesses: Sequence[WitnessConfig]
) -> list[str]:
    """The configured witnesses with a valid cosignature on ``checkpoint``."""
    note = checkpoint.note(cosignatures(conn, checkpoint.tree_size))
    return [k.name for k in notes.quorum(note, [w.key for w in witnesses])]
