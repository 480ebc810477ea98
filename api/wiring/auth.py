"""Bearer tokens: who is calling, checked with PyJWT.

HS256 tokens are verified with the configured secrets (the current one and,
during a rotation, the previous ones; new tokens are signed with the current);
when a JWKS URL is set, RS256/ES256 tokens are verified with its keys, cached
for ``jwks_cache_seconds`` and fetched again when a token names an unknown
``kid`` (at most once per ``jwks_refetch_seconds``). The algorithm picks the key
source, so a token can never have its public key used as an HMAC secret.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from api.wiring.settings import Settings
from api.wiring.signing import require_private
from domain.exceptions import ConfigurationError
from projections.reads.read_store import Principal

ADMIN_ROLE = "admin"
AUDITOR_ROLE = "auditor"
SESSION_COOKIE = "export_ledger_session"
"""The console's session cookie (the bearer token); the event stream accepts it too."""
SECRET_FILE = "jwt-secret"
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
_TTL = re.compile(r"^\s*([0-9]+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL = timedelta(days=365)  # longer-lived bearer tokens are a risk, not a convenience
_LEEWAY_SECONDS = 30
_VERIFIED_CACHE = 4096  # tokens whose signature and claims were checked, kept until they expire


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or not acceptable."""


class KeysUnavailable(Exception):
    """The JWKS URL could not be read, so RS256 tokens cannot be checked now."""


class TokenVerifier:
    def __init__(
        self,
        secret: str | Sequence[str] | None,
        *,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        jwks_cache_seconds: float = 300,
        jwks_refetch_seconds: float = 10,
    ) -> None:
        secrets_ = [secret] if isinstance(secret, str) else list(secret or ())
        self._secrets = [s for s in secrets_ if s]
        if not self._secrets and not jwks_url:
            raise ConfigurationError(
                "no way to verify tokens: set EXPORT_LEDGER_JWT_SECRET or EXPORT_LEDGER_JWKS_URL"
            )
        try:
            self._jwks = (
                jwt.PyJWKClient(
                    jwks_url,
                    lifespan=jwks_cache_seconds,
                    cooldown_duration=jwks_refetch_seconds,
                    timeout=5,
                )
                if jwks_url
                else None
            )
        except jwt.PyJWKClientError as error:
            raise ConfigurationError(f"bad EXPORT_LEDGER_JWKS_URL: {error}") from None
        self._audience = audience
        self._issuer = issuer
        # A client sends the same token on every request: its signature and claims are
        # checked once, and only its expiry again on later requests.
        self._checked = functools.lru_cache(maxsize=_VERIFIED_CACHE)(self._check)

    @property
    def may_block(self) -> bool:
        """Whether :meth:`verify` may fetch keys over the network (RS256 via JWKS);
        an HS256-only verifier is pure computation, fit for the event loop."""
        return self._jwks is not None

    def verify(self, token: str) -> Principal:
        return _principal(self.claims(token))

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, expiry and configured audience and
        issuer hold; ``sub`` may be absent (Supabase's API keys have none). The dict
        is shared between calls: read it, never change it."""
        claims, expires = self._checked(token)
        if expires + _LEEWAY_SECONDS < time.time():
            raise InvalidToken("the token has expired")
        return claims

    def _check(self, token: str) -> tuple[dict[str, Any], float]:
        """The claims and the expiry time of a token whose signature and claims hold."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            claims = self._decode(token, str(algorithm), self._keys(token, algorithm))
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailable(str(error)) from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"invalid token: {error}") from None
        return claims, float(claims["exp"])

    def _decode(self, token: str, algorithm: str, keys: list[Any]) -> dict[str, Any]:
        """The claims, with the first key that verifies the signature (the
        current secret, then the previous ones)."""
        for key in keys[:-1]:
            try:
                return self._decode_with(token, algorithm, key)
            except jwt.InvalidSignatureError:
                continue
        return self._decode_with(token, algorithm, keys[-1])

    def _decode_with(self, token: str, algorithm: str, key: Any) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=self._audience,
            issuer=self._issuer,
            leeway=_LEEWAY_SECONDS,
            # An ``aud`` is checked when one is configured, accepted otherwise.
            options={"require": ["exp"], "verify_aud": self._audience is not None},
        )

    def _keys(self, token: str, algorithm: Any) -> list[Any]:
        if algorithm == "HS256" and self._secrets:
            return list(self._secrets)
        if algorithm in _ASYMMETRIC and self._jwks is not None:
            return [self._jwks.get_signing_key_from_jwt(token).key]
        raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted")


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not valid_user_id(subject):
        raise InvalidToken("the token's 'sub' must be a user id of 1 to 200 printable characters")
    role = claims.get("role")
    return Principal(user_id=subject, admin=role == ADMIN_ROLE, auditor=role == AUDITOR_ROLE)


def valid_user_id(text: str) -> bool:
    return 0 < len(text) <= 200 and text.strip() == text and text.isprintable()


def issue_token(
    secret: str,
    user_id: str,
    *,
    admin: bool = False,
    auditor: bool = False,
    ttl: timedelta = timedelta(hours=1),
    audience: str | None = None,
    issuer: str | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token for ``user_id``, valid for ``ttl`` (admin wins over auditor)."""
    if not valid_user_id(user_id):
        raise ConfigurationError("the user id must be 1 to 200 printable characters")
    moment = now or datetime.now(UTC)
    claims: dict[str, Any] = {"sub": user_id, "iat": moment, "exp": moment + ttl}
    if admin or auditor:
        claims["role"] = ADMIN_ROLE if admin else AUDITOR_ROLE
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


def parse_ttl(text: str) -> timedelta:
    """'90s', '15m', '1h', '7d' or plain seconds; at most :data:`MAX_TTL`."""
    match = _TTL.match(text)
    digits = match[1].lstrip("0") if match else ""
    if match is None or not digits:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 1h, 7d)")
    most = int(MAX_TTL.total_seconds())
    # More digits than the longest lifetime has is too long, without int() of them all.
    seconds = int(digits) * _UNITS[match[2]] if len(digits) <= len(str(most)) else most + 1
    if seconds > most:
        raise ValueError(f"too long a lifetime: {text!r} (at most {MAX_TTL.days}d)")
    return timedelta(seconds=seconds)


def verifier_for(settings: Settings) -> TokenVerifier:
    return TokenVerifier(
        resolve_secrets(settings),
        jwks_url=settings.jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        jwks_cache_seconds=settings.jwks_cache_seconds,
        jwks_refetch_seconds=settings.jwks_refetch_seconds,
    )


def resolve_secret(settings: Settings) -> str | None:
    """The current secret, which signs new tokens (see :func:`resolve_secrets`)."""
    found = resolve_secrets(settings)
    return found[0] if found else None


def resolve_secrets(settings: Settings) -> list[str]:
    """The configured secrets, current first; on the embedded default, the one
    kept in the data directory."""
    if settings.jwt_secret is not None:
        return split_secrets(settings.jwt_secret.get_secret_value())
    if settings.database_url is None:
        return [load_or_create_secret(settings.data_dir / SECRET_FILE)]
    return []


def split_secrets(text: str) -> list[str]:
    """``EXPORT_LEDGER_JWT_SECRET``'s secrets: comma-separated, current first."""
    return [part.strip() for part in text.split(",") if part.strip()]


def secret_source(settings: Settings) -> str:
    """Where the token secrets come from, for ``status`` (never what they are)."""
    sources = []
    if settings.jwt_secret is not None:
        count = len(split_secrets(settings.jwt_secret.get_secret_value()))
        previous = f", {count - 1} previous" if count > 1 else ""
        sources.append(f"EXPORT_LEDGER_JWT_SECRET (current{previous})")
    elif settings.database_url is None:
        sources.append(f"file {settings.data_dir / SECRET_FILE}")
    if settings.jwks_url:
        sources.append("EXPORT_LEDGER_JWKS_URL")
    return " and ".join(sources) or "none"


def load_or_create_secret(path: Path) -> str:
    """Read the secret at ``path``, creating it (mode 0600) on first use; a file
    its group or others may read is refused.

    The new secret is written to a private temporary file and linked into
    place, so concurrent first starts agree on one secret.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwt-secret-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            os.chmod(temporary, 0o600)
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    require_private(path, "token secret")
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ConfigurationError(f"the secret in {path} is shorter than 32 characters")
    return secret
