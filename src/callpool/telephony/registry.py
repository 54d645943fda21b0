"""The configured telephony provider."""

from __future__ import annotations

from callpool.settings import Settings
from callpool.telephony.base import Provider
from callpool.telephony.sandbox.provider import SandboxProvider


def provider_for(settings: Settings) -> Provider:
    if settings.telephony_provider == "sandbox":
        return SandboxProvider(settings.secret_key)
    if settings.telephony_provider == "twilio":
        from callpool.telephony.twilio.provider import TwilioProvider

        return TwilioProvider.from_settings(settings)
    raise ValueError(f"unknown CALLPOOL_TELEPHONY_PROVIDER {settings.telephony_provider!r}")
