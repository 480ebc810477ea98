"""Settings, read from ``EXPORT_LEDGER_*`` environment variables at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.tlog import notes


def default_data_dir() -> Path:
    return platformdirs.user_data_path("export-ledger", appauthor=False)


class Settings(BaseSettings):
    """Built once by an entry point and passed into constructors; never at import."""

    model_config = SettingsConfigDict(env_prefix="EXPORT_LEDGER_", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of the production database; unset: embedded server",
    )
    migrate_database_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of the schema's owner, for migrate, rebuild and "
        "rebuild --as-of; unset: EXPORT_LEDGER_DATABASE_URL. The runtime never logs in as it",
    )
    read_database_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="postgresql:// URLs of streaming replicas that serve list, get and as-of "
        "reads; comma-separated, or a JSON list (for URLs that contain commas)",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where the embedded server keeps its data and generated secrets",
    )
    sink_key_file: Path | None = Field(
        default=None,
        description="the key (32 random bytes, base64) webhook sinks' secrets are sealed "
        "under; unset: generated once (0600) in the data directory",
    )
    sink_hosts: str = Field(
        default="",
        description="comma-separated hosts webhook sinks may send to over https "
        "(none by default; http:// only to loopback)",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PEM key that signs checkpoints; unset: generated once (0600) "
        "in the data directory",
    )
    log_origin: str | None = Field(
        default=None,
        description="the log's origin (C2SP checkpoint name): a schema-less URL, no spaces, "
        "no '+'; unset: the origin of the stored checkpoints, or "
        "export-ledger.local/<first key id> (which differs per ledger)",
    )
    witnesses: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="witnesses the sealer asks to cosign each checkpoint: comma-separated "
        "'VKEY URL' pairs (the witness's verifier key, type 0x04, and its add-checkpoint "
        "prefix URL)",
    )
    witness_quorum: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="how many of the witnesses must cosign for a checkpoint to count as "
        "witnessed; unset: all of them",
    )
    pool_size: int = Field(default=4, ge=1, le=64)
    lock_timeout_seconds: int = Field(default=10, ge=0, le=600)
    group_commit: bool = Field(
        default=True,
        description="the API saves concurrent commands in shared transactions (each response "
        "still waits for its own commit)",
    )
    sync_from: str | None = Field(
        default=None,
        description="PostgreSQL URL of a source whose table the projector follows by logical "
        "decoding (README: live sync); its slot must have been set up by import --follow",
    )
    sync_table: str = Field(
        default="export_logs", description="the table EXPORT_LEDGER_SYNC_FROM follows"
    )
    sync_slot: str | None = Field(
        default=None,
        description="the slot EXPORT_LEDGER_SYNC_FROM follows (default export_ledger_TABLE)",
    )
    retention_every_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86_400,
        description="how often the projector sheds the exports past their retention "
        "policy (0: never; export-ledger retain runs it by hand)",
    )
    projector_election: bool = Field(
        default=False,
        description="serve runs its follower and sealer only while it holds the projector "
        "lock, so that of several server processes exactly one projects (serve --workers N "
        "turns it on)",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 key of the API's tokens (at least 32 characters); during a "
        "rotation, comma-separated, current first: new tokens are signed with the current, "
        "tokens of any verify; unset with the embedded server: generated once (0600) and kept "
        "in the data directory",
    )
    jwks_url: str | None = Field(
        default=None, description="JWKS URL whose keys also verify RS256/ES256 tokens"
    )
    jwks_cache_seconds: float = Field(
        default=300, gt=0, le=86400, description="how long the JWKS keys are cached"
    )
    jwks_refetch_seconds: float = Field(
        default=10,
        ge=0,
        le=3600,
        description="a token with an unknown 'kid' fetches the JWKS again, at most this often",
    )
    jwt_audience: str | None = Field(default=None, description="required 'aud' claim, if set")
    jwt_issuer: str | None = Field(default=None, description="required 'iss' claim, if set")
    read_wait_seconds: float = Field(
        default=5.0, ge=0, le=60, description="how long a read waits for min_position"
    )
    pool_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="how long a request waits for a connection"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    events_heartbeat_seconds: float = Field(
        default=15.0, ge=0.1, le=300, description="heartbeat interval of /api/events/stream"
    )
    ui_dev_sign_in: bool = Field(
        default=True,
        description="offer the console's dev sign-in (any user or admin, no token); only ever "
        "on with the embedded database, never with EXPORT_LEDGER_DATABASE_URL set",
    )

    @field_validator("jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip(", \t\n"):
            return None
        parts = [p.strip() for p in value.get_secret_value().split(",") if p.strip()]
        for number, part in enumerate(parts, start=1):
            if len(part) < 32:
                which = "" if len(parts) == 1 else f" (secret {number} of {len(parts)})"
                raise ValueError(f"EXPORT_LEDGER_JWT_SECRET must be at least 32 characters{which}")
        return value

    @field_validator("log_origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            notes.check_name(value.strip())
        except notes.NoteError as error:
            raise ValueError(f"EXPORT_LEDGER_LOG_ORIGIN: {error}") from None
        return value.strip()

    @field_validator("witnesses", mode="before")
    @classmethod
    def _witnesses(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ValueError("EXPORT_LEDGER_WITNESSES is comma-separated 'VKEY URL' pairs")
        for entry in value:
            witness_of(str(entry))
        return [" ".join(str(entry).split()) for entry in value]

    @field_validator("jwks_url", "jwt_audience", "jwt_issuer")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("database_url", "migrate_database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        variable = f"EXPORT_LEDGER_{str(info.field_name).upper()}"
        return SecretStr(_checked_url(value.get_secret_value(), variable))

    @field_validator("read_database_urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> list[str]:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(value, list):
            raise ValueError("EXPORT_LEDGER_READ_DATABASE_URLS must be a list of URLs")
        urls = [u.get_secret_value() if isinstance(u, SecretStr) else str(u) for u in value]
        return [_checked_url(u, "EXPORT_LEDGER_READ_DATABASE_URLS") for u in urls if u.strip()]


def witness_of(entry: str) -> tuple[notes.VerifierKey, str]:
    """A witness of ``EXPORT_LEDGER_WITNESSES``: its verifier key and URL prefix."""
    parts = entry.split()
    if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
        raise ValueError(f"EXPORT_LEDGER_WITNESSES: not 'VKEY URL': {entry[:80]!r}")
    try:
        key = notes.VerifierKey.parse(parts[0])
    except notes.NoteError as error:
        raise ValueError(f"EXPORT_LEDGER_WITNESSES: {error}") from None
    if key.kind != notes.COSIGNATURE_V1:
        raise ValueError(f"EXPORT_LEDGER_WITNESSES: {key.name}'s key is not a cosigner's (0x04)")
    return key, parts[1].rstrip("/")


def _checked_url(url: str, variable: str) -> str:
    url = url.strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{variable} takes postgresql:// URLs only")
    return url
