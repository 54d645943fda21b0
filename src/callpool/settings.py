"""Typed settings, read once from the environment (prefix ``CALLPOOL_``).

Every key is documented in ``.env.example``. Bad or placeholder secrets fail at start-up,
not at the first request that needs them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "replace-me"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLPOOL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///callpool.db",
        description="SQLAlchemy URL. SQLite (embedded default) or postgresql+psycopg://…",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL the world (browsers, Twilio) uses to reach this server.",
    )
    secret_key: str = Field(
        default="dev-insecure-secret-key-change-me-in-production",
        description="Signs session cookies and CSRF tokens.",
    )
    bootstrap_api_key: str | None = Field(
        default=None, description="If set, created as an API key of the first account at start."
    )
    telephony_provider: str = Field(default="sandbox", description="sandbox or twilio")
    sandbox_latency_ms: float = Field(
        default=0,
        ge=0,
        description="Every sandbox carrier API call (search, buy, release, configure) takes "
        "this long, to see how callpool behaves with a slow carrier.",
    )
    sandbox_failure_rate: float = Field(
        default=0,
        ge=0,
        le=1,
        description="This share (0-1) of sandbox carrier API calls fails with a transient error.",
    )
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str | None = Field(
        default=None, description="Override Twilio's API host (tests use a local fake)."
    )
    routing_cache_path: Path = Field(
        default=Path("callpool-routing.json"),
        description="Local file keeping tracker → forward number, read when the database is down.",
    )
    call_spool_dir: Path = Field(
        default=Path("callpool-spool"),
        description="Calls that could not be stored (database down) wait here to be replayed.",
    )
    attribution_window_hours: float = 24.0
    webhook_db_deadline_seconds: float = Field(
        default=4.0,
        gt=0,
        description="A voice webhook waits this long for the database, then routes the call "
        "from the local routing table (the carrier gives up after 15 s).",
    )
    worker_interval_seconds: float = 60.0
    production: bool = Field(
        default=False, description="Refuse insecure defaults (placeholder secret key)."
    )

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("CALLPOOL_DATABASE_URL must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; spare users the dialect suffix.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: str) -> str:
        if value.lower() in PLACEHOLDER_SECRETS or len(value) < 16:
            raise ValueError("CALLPOOL_SECRET_KEY must be a real secret of 16+ characters")
        return value

    def check_production(self) -> None:
        if self.production and "insecure" in self.secret_key:
            raise ValueError("CALLPOOL_SECRET_KEY is the development default; set a real secret")


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings
