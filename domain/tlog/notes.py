"""C2SP signed notes (c2sp.org/signed-note), verifier keys and witness cosignatures
(c2sp.org/tlog-cosignature), usable by auditors on their own like domain/tlog/merkle.py.

A signed note is UTF-8 text::

    <text: one or more lines, each ending in 0x0A>
    <a blank line: 0x0A>
    — <key name> <base64(key id || signature)>      one line per signature (U+2014, spaces)

A key id is 4 bytes, big-endian: ``SHA-256(key name || 0x0A || type || public key)[:4]``
with ``type`` 0x01 for an Ed25519 signature over the text, 0x04 for a cosignature.

Verifier keys ("vkeys") are ``<name>+<8 lowercase hex digits of the key id>+<base64(type ||
32-byte public key)>``.

A v1 cosignature (type 0x04) is an Ed25519 signature over::

    cosignature/v1
    time <POSIX seconds, decimal, no leading zeroes>
    <the whole cosigned note text, extension lines included>

and its signature bytes are the time as 8 bytes, unsigned big-endian, then the 64-byte
Ed25519 signature. Only ``hashlib`` and ``base64`` are needed, except for verifying and
signing (``cryptography``, imported when called).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_SIGNATURES = 32
_NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note, key or signature that is malformed or does not verify."""


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A (name, key id, type, public key) tuple: who may sign a note, or cosign it."""

    name: str
    key_id: bytes
    kind: int
    public_key: bytes

    @classmethod
    def of(cls, name: str, public_key: bytes, kind: int = ED25519) -> VerifierKey:
        check_name(name)
        if len(public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")
        return cls(name, key_id(name, kind, public_key), kind, public_key)

    def text(self) -> str:
        """The vkey string: ``name+hex(key id)+base64(type || public key)``."""
        material = base64.b64encode(bytes([self.kind]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A vkey string; a NoteError names what is wrong."""
        name, sep, rest = text.strip().partition("+")
        hex_id, sep2, material = rest.partition("+")
        if not (sep and sep2) or not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise NoteError("a verifier key is NAME+8 hex digits+base64 key")
        try:
            raw = base64.b64decode(material, validate=True)
        except binascii.Error:
            raise NoteError("a verifier key's key is not base64") from None
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError("a verifier key is type 0x01 or 0x04 and a 32-byte Ed25519 key")
        found = cls.of(name, raw[1:], raw[0])
        if found.key_id.hex() != hex_id:
            raise NoteError(f"the key id {hex_id} does not match the key of {name!r}")
        return found


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes  # what follows the key id

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: bytes  # ends in a newline; what the signatures sign
    signatures: tuple[Signature, ...]

    def render(self) -> bytes:
        return self.text + b"\n" + "".join(s.line() for s in self.signatures).encode()


def check_name(name: str) -> None:
    if not name or not _NAME.match(name) or not name.isprintable():
        raise NoteError(f"a key name is non-empty, without spaces or '+': {name!r}")


def key_id(name: str, kind: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()[:4]


def parse(data: bytes) -> Note:
    """Split a signed note into its text and signature lines (nothing is verified)."""
    try:
        decoded = data.decode()
    except UnicodeDecodeError:
        raise NoteError("a note is UTF-8") from None
    if any(c < " " and c != "\n" for c in decoded):
        raise NoteError("a note holds no control characters but newlines")
    head, sep, tail = decoded.rpartition("\n\n")
    if not sep or not tail.endswith("\n"):
        raise NoteError("a note is its text, a blank line, then signature lines")
    lines = tail[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note with more than {MAX_SIGNATURES} signatures")
    return Note((head + "\n").encode(), tuple(_signature(line) for line in lines))


def _signature(line: str) -> Signature:
    dash, _, rest = line.partition(" ")
    name, _, encoded = rest.partition(" ")
    if dash != DASH or " " in encoded:
        raise NoteError(f"not a signature line: {line[:60]!r}")
    check_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError(f"a signature of {name!r} is not base64") from None
    if len(raw) < 5:
        raise NoteError(f"a signature of {name!r} is too short")
    return Signature(name, raw[:4], raw[4:])


def signature_for(note: Note, key: VerifierKey) -> Signature | None:
    """The note's signature line by ``key`` (same name and key id), if any."""
    for found in note.signatures:
        if found.name == key.name and found.key_id == key.key_id:
            return found
    return None


def verify(note: Note, key: VerifierKey) -> bool:
    """Whether ``key`` (type 0x01) signed the note's text."""
    found = signature_for(note, key)
    return found is not None and ed25519_verify(key.public_key, found.signature, note.text)


def cosigned_message(text: bytes, time: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % time + text


def cosignature_time(signature: Signature) -> int:
    if len(signature.signature) != 72:
        raise NoteError("a cosignature is an 8-byte time and a 64-byte signature")
    return int.from_bytes(signature.signature[:8])


def verify_cosignature(note: Note, key: VerifierKey) -> int | None:
    """The time of ``key``'s valid cosignature of the note (None: none, or invalid)."""
    found = signature_for(note, key)
    if found is None or len(found.signature) != 72:
        return None
    time = cosignature_time(found)
    if time >= 2**63 or not ed25519_verify(
        key.public_key, found.signature[8:], cosigned_message(note.text, time)
    ):
        return None
    return time


def cosign(text: bytes, key: VerifierKey, sign: Callable[[bytes], bytes], time: int) -> Signature:
    """A v1 cosignature of ``text`` at ``time`` by ``key`` (its private half signs)."""
    signed = sign(cosigned_message(text, time))
    return Signature(key.name, key.key_id, time.to_bytes(8) + signed)


def quorum(note: Note, witnesses: Iterable[VerifierKey]) -> list[VerifierKey]:
    """The witnesses with a valid cosignature on the note."""
    return [w for w in witnesses if verify_cosignature(note, w) is not None]


def with_signatures(note: Note, extra: Sequence[Signature]) -> Note:
    """The note with ``extra`` lines added (a key's line already there is kept)."""
    known = {(s.name, s.key_id) for s in note.signatures}
    added = tuple(s for s in extra if (s.name, s.key_id) not in known)
    return Note(note.text, note.signatures + added)


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
