"""domain.tlog.notes (C2SP signed notes, vkeys, cosignatures) and the C2SP checkpoint text of
domain.tlog.merkle, against the published examples and against themselves."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.tlog import merkle, notes

# The example of c2sp.org/signed-note (its public key is not published: it parses).
SPEC_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()

# The example of golang.org/x/mod/sumdb/note, the format's reference implementation.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()

# The example of c2sp.org/tlog-cosignature: the checkpoint text of its cosigned message.
COSIGNED = (
    b"cosignature/v1\ntime 1679315147\n"
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def _key() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_the_signed_note_spec_example_parses_into_its_text_and_signature() -> None:
    note = notes.parse(SPEC_NOTE)
    assert note.text.decode().endswith("ed è subito sera.\n")
    assert "\n\ned è" in note.text.decode()  # the last blank line separates, not the first
    (signature,) = note.signatures
    assert signature.name == "quasimodo.example/salvatore"
    assert signature.key_id == bytes.fromhex("367ba04b")
    assert len(signature.signature) == 64
    assert note.render() == SPEC_NOTE


def test_the_reference_example_verifies_with_its_vkey() -> None:
    key = notes.VerifierKey.parse(GO_VKEY)
    assert (key.name, key.key_id.hex(), key.kind) == ("PeterNeumann", "c74f20a3", notes.ED25519)
    assert key.text() == GO_VKEY
    note = notes.parse(GO_NOTE)
    assert notes.verify(note, key)
    tampered = notes.parse(GO_NOTE.replace(b"problem,", b"problem;"))
    assert not notes.verify(tampered, key)


def test_key_ids_follow_the_spec() -> None:
    _, public = _key()
    expected = hashlib.sha256(b"example.com/log\n\x01" + public).digest()[:4]
    assert notes.key_id("example.com/log", notes.ED25519, public) == expected
    key = notes.VerifierKey.of("example.com/log", public)
    assert key.text() == (
        "example.com/log+" + expected.hex() + "+" + base64.b64encode(b"\x01" + public).decode()
    )
    assert notes.VerifierKey.parse(key.text()) == key


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "name",
        "name+c74f20a3",
        "name+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+not base64",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_vkeys_are_refused(bad: str) -> None:
    with pytest.raises(notes.NoteError):
        notes.VerifierKey.parse(bad)


@pytest.mark.parametrize(
    "bad",
    [
        b"no blank line\n",
        b"text\n\n",
        b"text\n\n\xe2\x80\x94 name AAAA\n",
        b"text\n\n- name AAAAAAAA\n",
        b"te\x01xt\n\n\xe2\x80\x94 name AAAAAAAA\n",
        b"\xff\n\n\xe2\x80\x94 name AAAAAAAA\n",
        b"text\n\n\xe2\x80\x94 name AAAAAAAA",
    ],
)
def test_malformed_notes_are_refused(bad: bytes) -> None:
    with pytest.raises(notes.NoteError):
        notes.parse(bad)


def test_a_cosignature_signs_the_spec_message_and_carries_its_time() -> None:
    text = COSIGNED.split(b"\n", 2)[2]
    assert notes.cosigned_message(text, 1679315147) == COSIGNED
    private, public = _key()
    witness = notes.VerifierKey.of("witness.example/w1", public, notes.COSIGNATURE_V1)
    line = notes.cosign(text, witness, private.sign, 1679315147)
    assert line.signature[:8] == (1679315147).to_bytes(8)
    note = notes.Note(text, (line,))
    assert notes.verify_cosignature(notes.parse(note.render()), witness) == 1679315147
    assert notes.quorum(note, [witness]) == [witness]
    other = notes.VerifierKey.of("witness.example/w2", _key()[1], notes.COSIGNATURE_V1)
    assert notes.quorum(note, [witness, other]) == [witness]
    later = notes.Note(
        text, (notes.Signature(line.name, line.key_id, (1).to_bytes(8) + line.signature[8:]),)
    )
    assert notes.verify_cosignature(later, witness) is None  # the time is signed too


def test_a_c2sp_checkpoint_text_round_trips() -> None:
    moment = datetime(2026, 3, 3, 14, 0, 5, 120, tzinfo=UTC)
    root = bytes(range(32))
    text = merkle.checkpoint_note_text("example.com/log", 8, root, 42, moment)
    assert text == (
        b"example.com/log\n8\n"
        + base64.b64encode(root)
        + b"\nposition 42\ntime 2026-03-03T14:00:05.000120Z\n"
    )
    assert merkle.parse_checkpoint_note_text(text) == (
        "example.com/log",
        8,
        root,
        ["position 42", "time 2026-03-03T14:00:05.000120Z"],
    )
    for bad in (b"o\n08\n" + base64.b64encode(root) + b"\n", b"o\n8\nAAAA\n", b"o\n8\n"):
        with pytest.raises(ValueError):
            merkle.parse_checkpoint_note_text(bad)
