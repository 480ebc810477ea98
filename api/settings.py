"""Settings, read from ``EXPORT_LEDGER_*`` environment variables at start-up."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return platformdirs.user_data_path("export-ledger", appauthor=False)


class Settings(BaseSettings):
    """Built once by an entry point and passed into constructors; never at import."""

    model_config = SettingsConfigDict(env_prefix="EXPORT_LEDGER_", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of the production database; unset: embedded server",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where the embedded server keeps its data and generated secrets",
    )
    pool_size: int = Field(default=4, ge=1, le=64)
    lock_timeout_seconds: int = Field(default=10, ge=0, le=600)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("EXPORT_LEDGER_DATABASE_URL must start with postgresql://")
        return SecretStr(url)
