"""Token secrets and key files without a database: rotation, file modes, where they are."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from api.wiring.auth import (
    InvalidToken,
    TokenVerifier,
    issue_token,
    load_or_create_secret,
    resolve_secret,
    resolve_secrets,
    secret_source,
)
from api.wiring.settings import Settings
from api.wiring.signing import KEY_FILE_NAME, KeyRing, load, load_or_create
from domain.exceptions import ConfigurationError
from projections.tlog.keys import SigningKey, key_at

CURRENT, PREVIOUS = secrets.token_urlsafe(48), secrets.token_urlsafe(48)


def test_the_secret_setting_lists_the_current_secret_first() -> None:
    settings = Settings(jwt_secret=SecretStr(f" {CURRENT} , {PREVIOUS} "))
    assert resolve_secrets(settings) == [CURRENT, PREVIOUS]
    assert resolve_secret(settings) == CURRENT
    assert secret_source(settings) == "EXPORT_LEDGER_JWT_SECRET (current, 1 previous)"


def test_a_short_secret_among_several_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret=SecretStr(f"{CURRENT},too-short-a-secret"))
    message = raised.value.errors()[0]["msg"]
    assert "secret 2 of 2" in message and "too-short" not in message


def test_tokens_of_either_secret_verify_and_of_no_other() -> None:
    verifier = TokenVerifier([CURRENT, PREVIOUS])
    assert verifier.verify(issue_token(CURRENT, "user-a")).user_id == "user-a"
    assert verifier.verify(issue_token(PREVIOUS, "user-b", admin=True)).admin
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        verifier.verify(issue_token(secrets.token_urlsafe(48), "user-c"))
    past = datetime.now(UTC) - timedelta(hours=2)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(issue_token(PREVIOUS, "user-d", now=past))


def test_new_tokens_are_signed_with_the_current_secret() -> None:
    current = resolve_secret(Settings(jwt_secret=SecretStr(f"{CURRENT},{PREVIOUS}")))
    signed = issue_token(current or "", "u")
    assert jwt.decode(signed, CURRENT, algorithms=["HS256"])["sub"] == "u"


def test_secret_and_key_files_others_may_read_are_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt-secret"
    load_or_create_secret(secret_file)
    load_or_create(tmp_path)
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600
    for path, what in ((secret_file, "token secret"), (tmp_path / KEY_FILE_NAME, "signing key")):
        os.chmod(path, 0o640)
        with pytest.raises(ConfigurationError, match=f"the {what} file .* has mode 0640") as e:
            load_or_create_secret(path) if what == "token secret" else load(path)
        assert path.read_text().strip() not in str(e.value)


def test_status_names_where_the_secrets_are(tmp_path: Path) -> None:
    settings = Settings(database_url=None, jwt_secret=None, data_dir=tmp_path, jwks_url=None)
    assert secret_source(settings) == f"file {tmp_path / 'jwt-secret'}"
    with_jwks = Settings(jwt_secret=SecretStr(CURRENT), jwks_url="https://issuer.example/jwks")
    assert (
        secret_source(with_jwks) == "EXPORT_LEDGER_JWT_SECRET (current) and EXPORT_LEDGER_JWKS_URL"
    )


def test_the_key_ring_finds_keys_made_after_it_was_read(tmp_path: Path) -> None:
    ring, other = KeyRing(tmp_path), KeyRing(tmp_path)
    first = ring.first()
    assert ring.find(first.key_id) is not None
    made = other.create()  # 'keys rotate' in another process
    path = tmp_path / f"ledger-signing-key-{made.key_id}.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    found = ring.find(made.key_id)
    assert found is not None and found.public_key == made.public_key
    assert ring.find("0" * 16) is None
    assert ring.files() == sorted([tmp_path / KEY_FILE_NAME, path])


def test_each_tree_size_has_the_key_of_its_time() -> None:
    when = datetime.now(UTC)
    keys = [
        SigningKey("a" * 16, b"a" * 32, 1, 18, when),
        SigningKey("b" * 16, b"b" * 32, 18, 18, when),  # rotated before it signed
        SigningKey("c" * 16, b"c" * 32, 18, None, when),
    ]
    assert key_at(keys, 0) is None
    assert key_at(keys, 17) == keys[0] and keys[0].covers(17) and not keys[0].covers(18)
    assert key_at(keys, 18) == keys[2] and not keys[1].covers(18) and keys[2].current
