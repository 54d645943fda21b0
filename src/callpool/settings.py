"""Typed settings, read once from the environment (prefix ``CALLPOOL_``).

Every key is documented in ``.env.example``. Bad or placeholder secrets fail at start-up,
not at the first request that needs them.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# A secret anyone could guess is no secret: what docs, examples and old defaults suggest.
PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "insecure",
    "placeholder",
    "replace-me",
    "replaceme",
    "your-secret",
    "example",
)
MIN_SECRET_LENGTH = 24
GENERATED_SECRET_NAME = "callpool-secret.key"  # noqa: S105 (a file name)

Network = IPv4Network | IPv6Network

# The evidence ``calls/attribution.py`` ranks a shared number's visits by, most trusted first
# (it names each one; here so that a bad setting fails at start).
ATTRIBUTION_EVIDENCE = ("tel_click", "caller_seen_before", "line_type", "latest_activity")


def evidence_signals(value: Any) -> tuple[str, ...]:
    """``attribution_evidence`` from its text (comma-separated) or a list: known signals,
    each once, in the order given; ``ValueError`` otherwise (also ``callpool simulate``'s)."""
    items = value.split(",") if isinstance(value, str) else value
    names = tuple(str(item).strip() for item in items if str(item).strip())
    unknown = [name for name in names if name not in ATTRIBUTION_EVIDENCE]
    if unknown:
        raise ValueError(
            f"unknown signal {unknown[0]!r}: use some of {', '.join(ATTRIBUTION_EVIDENCE)}"
        )
    if len(set(names)) != len(names):
        raise ValueError("a signal is named twice")
    return names


class SettingsError(ValueError):
    """A setting is missing or wrong; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLPOOL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///callpool.db",
        description="SQLAlchemy URL. SQLite (embedded default) or postgresql+psycopg://…",
    )
    demo_database_url: str = Field(
        default="sqlite:///callpool-demo.db",
        description="Where `callpool demo` keeps its data (never the database `serve` uses), "
        "with a secret key of its own beside it.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL the world (browsers, Twilio) uses to reach this server.",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies, CSRF tokens and sandbox webhooks; keys visitors' "
        "IP hashes. Empty: generated on first start and kept in secret_key_file.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="Where a generated secret key is kept (mode 0600). Default: beside the "
        "SQLite file (<database>.secret); on PostgreSQL callpool-secret.key in the working "
        "directory.",
    )
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed; from anyone else the socket's address is the client's.",
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
        description="Every call and status callback is spooled here before it is answered, "
        "then stored by this process in the background (and kept while the database is down).",
    )
    attribution_window_hours: float = 24.0
    attribution_evidence: Annotated[tuple[str, ...], NoDecode] = Field(
        default=ATTRIBUTION_EVIDENCE,
        description="The evidence that ranks the visits sharing a called number, most "
        "trusted first, comma-separated: tel_click, caller_seen_before, line_type, "
        "latest_activity. Leave one out to distrust it.",
    )
    new_sessions_per_address_per_minute: int = Field(
        default=30,
        ge=0,
        description="New visit sessions one client address may start per minute, per app "
        "process (more are answered 429). 0: no limit.",
    )
    webhook_db_deadline_seconds: float = Field(
        default=1.5,
        gt=0,
        description="A call to a number missing from the routing table (bought elsewhere since "
        "the last refresh) asks the database this long, then hears 'not in service'.",
    )
    worker_interval_seconds: float = 60.0
    outbox_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the worker looks for webhooks and emails to deliver.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook endpoints resolve to private, loopback or link-local "
        "addresses (tests, internal deployments). Off: tenants cannot make the server call "
        "into its own network.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://user:pass@host:587 (STARTTLS), smtps://…:465 (TLS) or "
        "smtp+plain://host:25 (no TLS, local relays). Unset: email is off.",
    )
    email_from: str | None = Field(
        default=None, description="The From address of emails (default: callpool@<public host>)."
    )
    ga4_endpoint: str | None = Field(
        default=None,
        description="Where GA4 events go (scheme and host; /mp/collect is added). Unset: each "
        "site's choice, https://www.google-analytics.com or the EU's "
        "https://region1.google-analytics.com.",
    )

    @field_validator("database_url", "demo_database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError(
                "must be a sqlite:/// or postgresql:// URL, like sqlite:///callpool.db or "
                "postgresql://user:password@host:5432/callpool"
            )
        # psycopg 3 is the driver we ship; spare users the dialect suffix. Hosts (Heroku,
        # Render, Fly) hand out postgres:// URLs, which SQLAlchemy refuses: accept them.
        for short in ("postgresql://", "postgres://"):
            if value.startswith(short):
                value = "postgresql+psycopg://" + value.removeprefix(short)
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: str) -> str:
        if value:  # empty: one is generated (see ``with_secret``)
            check_secret(value)
        return value

    @field_validator("secret_key_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if value == "" else value  # ``CALLPOOL_SECRET_KEY_FILE=`` as in .env.example

    @field_validator("attribution_evidence", mode="before")
    @classmethod
    def _signals(cls, value: Any) -> tuple[str, ...]:
        return evidence_signals(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> tuple[Network, ...]:
        items = value.split(",") if isinstance(value, str) else value
        try:
            return tuple(ip_network(str(item).strip(), strict=False) for item in items if item)
        except ValueError as error:
            raise ValueError(f"CALLPOOL_TRUSTED_PROXIES: {error}") from None


def check_secret(value: str) -> None:
    """Refuse a secret key that is short or a placeholder, whatever the mode."""
    lowered = value.lower()
    if len(value) < MIN_SECRET_LENGTH or len(set(value)) < 8:
        raise ValueError(
            f"CALLPOOL_SECRET_KEY must be a random string of {MIN_SECRET_LENGTH}+ characters "
            "(or unset, to have one generated)"
        )
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        raise ValueError(
            "CALLPOOL_SECRET_KEY is a placeholder or a published default; "
            "set a random one (or unset it, to have one generated)"
        )


def secret_file(settings: Settings) -> Path:
    """Where a generated secret is kept: beside the SQLite file, so the secret goes with the
    data it signs; for PostgreSQL, the working directory (or ``secret_key_file``)."""
    if settings.secret_key_file is not None:
        return settings.secret_key_file
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.secret")
    return Path(GENERATED_SECRET_NAME)


def with_secret(settings: Settings) -> Settings:
    """``settings`` with a secret key: the configured one, else the one kept in
    ``secret_file``, generated on first start."""
    if settings.secret_key:
        return settings
    path = secret_file(settings)
    secret = _read_secret(path)
    if secret is None:
        secret = _create_secret(path)
        log.warning(
            "No CALLPOOL_SECRET_KEY set: generated one and saved it in %s (owner-only). "
            "Keep that file with the database; set CALLPOOL_SECRET_KEY to use your own.",
            path.resolve(),
        )
        if not settings.database_url.startswith("sqlite"):
            log.warning(
                "Every app process and the worker must use this same secret: copy %s to "
                "each, point CALLPOOL_SECRET_KEY_FILE at it, or set CALLPOOL_SECRET_KEY.",
                path.resolve(),
            )
    return settings.model_copy(update={"secret_key": secret})


def _read_secret(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise SettingsError(f"the secret key file {path} can be read by others: chmod 600 {path}")
    secret = path.read_text().strip()
    try:
        check_secret(secret)
    except ValueError as error:
        raise SettingsError(f"{path}: {error}") from None
    return secret


def _create_secret(path: Path) -> str:
    """Write a new secret with mode 0600. It is written to a temporary file and linked into
    place, so processes starting together never read a half-written file: the one whose link
    fails reads the winner's secret."""
    secret = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".callpool-secret-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        existing = _read_secret(path)
        assert existing is not None
        return existing
    finally:
        os.unlink(temporary)
    return secret


def one_line(error: ValidationError) -> str:
    """pydantic's several-line report as one line naming each variable at fault."""
    parts = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if message.startswith("Input should be "):  # pydantic's type errors
            kind = message.removeprefix("Input should be ").split(",")[0]
            message = f"must be {kind}, not {item['input']!r}"
        if not message.startswith("CALLPOOL_"):
            names: Sequence[Any] = item["loc"]
            field = str(names[0]) if names else "settings"
            message = f"CALLPOOL_{field.upper()}: {message}"
        parts.append(message)
    return "; ".join(parts)


def load_settings() -> Settings:
    """The settings from the environment and ``.env``, checked, without a secret key yet."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(one_line(error)) from None


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, with a secret key (generated if none is set)."""
    return with_secret(load_settings())
