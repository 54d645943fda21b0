"""The configured telephony provider."""

from __future__ import annotations

from pathlib import Path

from callpool.settings import Settings
from callpool.telephony.base import Provider
from callpool.telephony.sandbox.book import FileBook
from callpool.telephony.sandbox.provider import SandboxProvider


def provider_for(settings: Settings) -> Provider:
    if settings.telephony_provider == "sandbox":
        return SandboxProvider(
            settings.secret_key,
            latency_ms=settings.sandbox_latency_ms,
            failure_rate=settings.sandbox_failure_rate,
            book=FileBook(sandbox_book_path(settings)),
        )
    if settings.telephony_provider == "twilio":
        from callpool.telephony.twilio.provider import TwilioProvider

        return TwilioProvider.from_settings(settings)
    raise ValueError(f"unknown CALLPOOL_TELEPHONY_PROVIDER {settings.telephony_provider!r}")


def sandbox_book_path(settings: Settings) -> Path:
    """The sandbox carrier's ledger lives beside the routing table file: both are this
    machine's local state, and every callpool process of the machine shares them."""
    return settings.routing_cache_path.with_name("callpool-sandbox-numbers.json")
