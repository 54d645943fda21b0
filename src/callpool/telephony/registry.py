"""The telephony providers callpool knows, by name: the one place that builds them."""

from __future__ import annotations

from pathlib import Path

from callpool.settings import Settings
from callpool.telephony.base import Provider
from callpool.telephony.sandbox.book import FileBook
from callpool.telephony.sandbox.provider import SandboxProvider

NAMES = ("sandbox", "twilio")


def provider_for(settings: Settings) -> Provider:
    """The configured provider (``CALLPOOL_TELEPHONY_PROVIDER``): the one that buys numbers."""
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
    raise ValueError(
        f"unknown CALLPOOL_TELEPHONY_PROVIDER {settings.telephony_provider!r}; "
        f"one of {', '.join(NAMES)}"
    )


def webhook_provider(name: str, settings: Settings, configured: Provider) -> Provider | None:
    """The provider whose webhook ``/webhooks/<name>/…`` is, or None. Twilio's exist whichever
    provider buys the numbers (numbers moved in from Twilio keep ringing; they are signed with
    the Twilio auth token, and answered 403 without one); the sandbox's only when the sandbox
    is the configured provider, so simulated calls can never be stored by a real deployment."""
    if configured.name == name:
        return configured
    if name == "twilio":
        from callpool.telephony.twilio.provider import TwilioProvider

        return TwilioProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            api_base_url=settings.twilio_api_base_url,
        )
    return None


def sandbox_book_path(settings: Settings) -> Path:
    """The sandbox carrier's ledger lives beside the routing table file: both are this
    machine's local state, and every callpool process of the machine shares them."""
    return settings.routing_cache_path.with_name("callpool-sandbox-numbers.json")
