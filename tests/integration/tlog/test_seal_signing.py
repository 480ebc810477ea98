"""The sealer's signing key: made once (readable by its owner only), then reused."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from api.wiring.settings import Settings
from api.wiring.signing import KEY_FILE_NAME, load, load_or_create, signer_for
from domain.exceptions import ConfigurationError
from domain.tlog import merkle
from tests.integration.helpers import run_together


def test_a_missing_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(tmp_path / "data").public_key == first.public_key
    assert load(path).key_id == first.key_id
    assert list((tmp_path / "data").iterdir()) == [path]


def test_processes_starting_at_once_end_up_with_one_key(tmp_path: Path) -> None:
    signers = run_together(*(lambda: load_or_create(tmp_path) for _ in range(4)))
    assert len({s.public_key for s in signers}) == 1


def test_the_key_id_is_the_start_of_the_public_keys_sha256(tmp_path: Path) -> None:
    signer = load_or_create(tmp_path)
    assert len(signer.public_key) == 32
    assert signer.key_id == hashlib.sha256(signer.public_key).hexdigest()[:16]
    message = b"export-ledger checkpoint v1\n"
    assert merkle.verify_signature(signer.public_key, signer.sign(message), message)


def test_keys_that_are_not_ed25519_or_not_keys_are_refused(tmp_path: Path) -> None:
    other = generate_private_key(SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (tmp_path / "junk.pem").write_text("not a key")
    for name in ("ec.pem", "junk.pem", "missing.pem"):
        with pytest.raises(ConfigurationError):
            load(tmp_path / name)


def test_the_settings_data_directory_holds_the_key(tmp_path: Path) -> None:
    signer = signer_for(Settings(data_dir=tmp_path))
    assert (tmp_path / KEY_FILE_NAME).exists()
    assert signer_for(Settings(data_dir=tmp_path)).key_id == signer.key_id
