"""The sealer's Ed25519 signing key: loaded from a PEM file, or made once and kept.

The key signs checkpoints (see domain/merkle.py for the signed text). Whoever
holds it can vouch for any log, so the file is created readable by its owner
only; auditors need only the public key, which every checkpoint names by id.
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
from domain.merkle import key_id

KEY_FILE_NAME = "ledger-signing-key.pem"


@dataclass(frozen=True)
class Ed25519Signer:
    """Signs checkpoints; what projections.sealer.Signer asks for."""

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
    directory.mkdir(parents=True, exist_ok=True)
    signer = generate()
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
        return load(path)
    finally:
        aside.unlink(missing_ok=True)
    return signer


def signer_for(settings: Settings) -> Ed25519Signer:
    """The key file named by the ``signing_key_file`` setting when there is one,
    else the one kept (or made) in the data directory."""
    configured = getattr(settings, "signing_key_file", None)
    if configured:
        return load(Path(configured))
    return load_or_create(settings.data_dir)
