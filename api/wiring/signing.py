"""The sealer's Ed25519 signing keys: PEM files, made once and kept.

A key signs checkpoints (see domain/tlog/merkle.py for the signed text). Whoever
holds it can vouch for any log, so its file is created readable by its owner
only (mode 0600), and a key file that its group or others may read is refused;
auditors need only the public keys, which ``ledger_keys`` records
(projections/tlog/keys.py).

The :class:`KeyRing` of a process is every ``ledger-signing-key*.pem`` file in
the data directory: ``ledger-signing-key.pem``, the first key, generated on
first use, and ``ledger-signing-key-<key id>.pem``, one per ``keys rotate`` -
plus the ``signing_key_file`` setting's file, which replaces the generated
first key. The sealer signs with the ring's copy of the current registered key.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from api.wiring.settings import Settings
from domain.exceptions import ConfigurationError
from domain.tlog.merkle import key_id

KEY_FILE_NAME = "ledger-signing-key.pem"
KEY_FILES = "ledger-signing-key*.pem"


@dataclass(frozen=True)
class Ed25519Signer:
    """Signs checkpoints; what projections.tlog.sealer.Signer asks for."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        """The 32-byte raw public key."""
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def generate() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate())


def load(path: Path) -> Ed25519Signer:
    """The signer of an unencrypted PKCS#8 PEM file holding an Ed25519 key."""
    try:
        require_private(path, "signing key")
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigurationError(f"cannot load the signing key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"the signing key {path} is not an Ed25519 key")
    return Ed25519Signer(key)


def load_or_create(directory: Path, name: str = KEY_FILE_NAME) -> Ed25519Signer:
    """The key in ``directory/name``, generated there (mode 0600) if missing.

    The new file is written aside and linked into place, which fails if the
    name exists: two processes starting at once end up with the same key.
    """
    path = directory / name
    if path.exists():
        return load(path)
    signer = generate()
    if not write_private(directory / name, signer):
        return load(path)
    return signer


def write_private(path: Path, signer: Ed25519Signer) -> bool:
    """Write the key to a new file (mode 0600); False if the name exists already."""
    directory, name = path.parent, path.name
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = signer.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd, aside_name = tempfile.mkstemp(prefix=f".{name}.", dir=directory)  # mode 0600
    aside = Path(aside_name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        os.link(aside, path)
    except FileExistsError:
        return False
    finally:
        aside.unlink(missing_ok=True)
    return True


def require_private(path: Path, what: str) -> None:
    """Refuse a secret file that its group or others may read or write."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            f"the {what} file {path} has mode {mode:04o}, readable by others: "
            f"run 'chmod 600 {path}'"
        )


def signer_for(settings: Settings) -> Ed25519Signer:
    """The key file named by the ``signing_key_file`` setting when there is one,
    else the one kept (or made) in the data directory."""
    configured = getattr(settings, "signing_key_file", None)
    if configured:
        return load(Path(configured))
    return load_or_create(settings.data_dir)


class KeyRing:
    """The private checkpoint keys of this host (see the module docstring);
    what projections.tlog.keys.KeyRing asks for."""

    def __init__(self, directory: Path, configured: Path | None = None) -> None:
        self.directory = directory
        self.configured = configured
        self._known: dict[str, Ed25519Signer] = {}

    @classmethod
    def of(cls, settings: Settings) -> KeyRing:
        return cls(settings.data_dir, settings.signing_key_file)

    def first(self) -> Ed25519Signer:
        if self.configured is not None:
            return load(self.configured)
        return load_or_create(self.directory)

    def find(self, key_id: str) -> Ed25519Signer | None:
        """The private key of ``key_id``; the files are read again when it is not known."""
        if key_id not in self._known:
            self._known = {signer.key_id: signer for signer in map(load, self.files())}
        return self._known.get(key_id)

    def files(self) -> list[Path]:
        found = sorted(self.directory.glob(KEY_FILES)) if self.directory.is_dir() else []
        return [self.configured, *found] if self.configured is not None else found

    def create(self) -> Ed25519Signer:
        """A new key, written to ``ledger-signing-key-<key id>.pem`` (mode 0600)."""
        signer = generate()
        if not write_private(self.directory / f"ledger-signing-key-{signer.key_id}.pem", signer):
            raise ConfigurationError(f"a key file for key {signer.key_id} exists already")
        return signer
