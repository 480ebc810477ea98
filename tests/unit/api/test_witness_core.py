"""The witness's add-checkpoint (api/witness/core.py) on its SQLite state: every answer
of c2sp.org/tlog-witness, and concurrent requests of which exactly one wins."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from api.wiring.signing import generate
from api.witness.core import SIZE_TYPE, Witness
from api.witness.state import Latest, Refusal, State
from domain.tlog import notes
from tests.tlog_helpers import MemoryLog, add_body


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def witness(log: MemoryLog, tmp_path: Path) -> Witness:
    return Witness(
        "witness.example/w1", generate(), {log.origin: [log.vkey]}, State(tmp_path / "w.sqlite")
    )


def add(witness: Witness, log: MemoryLog, old: int, size: int) -> Latest | Refusal:
    return witness.add_checkpoint(add_body(old, log.proof(old, size), log.note(size)))


def refused(answer: Latest | Refusal, status: int) -> Refusal:
    assert isinstance(answer, Refusal) and answer.status == status, answer
    return answer


def test_a_consistent_checkpoint_is_cosigned_and_becomes_the_state(
    witness: Witness, log: MemoryLog
) -> None:
    first = add(witness, log, 0, 5)
    assert isinstance(first, Latest) and first.size == 5
    note = notes.parse(first.note + first.cosignature.encode())
    assert notes.verify(note, log.vkey)
    assert notes.verify_cosignature(note, witness.key) is not None
    second = add(witness, log, 5, 13)
    assert isinstance(second, Latest) and witness.state.latest(log.origin).size == 13
    again = add(witness, log, 13, 13)  # the same checkpoint: cosigned again
    assert isinstance(again, Latest)


def test_a_stale_old_size_is_409_with_the_size_held(witness: Witness, log: MemoryLog) -> None:
    add(witness, log, 0, 8)
    answer = refused(add(witness, log, 0, 12), 409)
    assert (answer.body, answer.content_type) == ("8\n", SIZE_TYPE)
    other_root = log.note(8, root=bytes(32))
    assert refused(witness.add_checkpoint(add_body(8, [], other_root)), 409).body == "8\n"


def test_a_proof_that_does_not_prove_consistency_is_422_and_changes_nothing(
    witness: Witness, log: MemoryLog
) -> None:
    add(witness, log, 0, 8)
    proof = log.proof(8, 12)
    proof[0] = bytes(32)
    refused(witness.add_checkpoint(add_body(8, proof, log.note(12))), 422)
    forked = log.note(12, root=bytes(32))
    refused(witness.add_checkpoint(add_body(8, log.proof(8, 12), forked)), 422)
    assert witness.state.latest(log.origin).size == 8


def test_an_unknown_origin_is_404(witness: Witness) -> None:
    stranger = MemoryLog(origin="other.example/log")
    refused(add(witness, stranger, 0, 4), 404)


def test_a_checkpoint_signed_by_another_key_is_403(witness: Witness, log: MemoryLog) -> None:
    forged = log.note(4, signer=generate())
    refused(witness.add_checkpoint(add_body(0, [], forged)), 403)


def test_an_old_size_above_the_checkpoints_is_400(witness: Witness, log: MemoryLog) -> None:
    add(witness, log, 0, 8)
    refused(witness.add_checkpoint(add_body(9, [], log.note(8))), 400)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 01\n\n",
        b"new 1\n\nx",
        b"old 0\nnot base64!\n\n",
        b"old 0\nAAAA\n\n",
        b"old 0\n\nlog.example/test\n4\n",
        b"\xff\n\n",
        b"old 0\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n",
    ],
)
def test_malformed_requests_are_400(witness: Witness, body: bytes) -> None:
    refused(witness.add_checkpoint(body), 400)


def test_of_concurrent_adds_on_one_old_size_exactly_one_wins(
    witness: Witness, log: MemoryLog
) -> None:
    add(witness, log, 0, 8)
    bodies = [
        add_body(8, log.proof(8, size), log.note(size)) for size in (20, 20, 30, 30, 40, 40, 50, 50)
    ]
    answers: list[Latest | Refusal] = []
    start = threading.Barrier(len(bodies))

    def submit(body: bytes) -> None:
        start.wait()
        answers.append(witness.add_checkpoint(body))

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [a for a in answers if isinstance(a, Latest)]
    assert len(won) == 1
    assert all(
        isinstance(a, Refusal) and a.status == 409 and a.body == f"{won[0].size}\n"
        for a in answers
        if a not in won
    )
    assert witness.state.latest(log.origin).size == won[0].size
