"""A provider with fictional numbers, for the demo and the tests.

Numbers are 555-0100 … 555-0199 in the asked area code: reserved for fiction in the North
American plan, so a demo can never ring a real person. Webhooks use Twilio's wire format,
signed with callpool's own secret key, so a simulated call takes the same path as a real one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from callpool.telephony.base import (
    ProviderError,
    PurchasedNumber,
)
from callpool.telephony.twilio import wire

DEFAULT_AREA_CODE = "512"
# 555-0199 is left out: the demo business uses it as its real number.
FICTIONAL = range(100, 199)


class SandboxProvider(wire.TwilioWireProvider):
    name = "sandbox"

    def __init__(self, signing_key: str) -> None:
        self.validator = RequestValidator(signing_key)

    def search_numbers(self, *, area_code: str | None, toll_free: bool, limit: int) -> list[str]:
        area = "800" if toll_free else (area_code or DEFAULT_AREA_CODE)
        if not (area.isdigit() and len(area) == 3 and area[0] not in "01"):
            raise ProviderError(f"area code {area!r} is not a valid US area code", permanent=True)
        return [f"+1{area}5550{line:03d}" for line in FICTIONAL][:limit]

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        sid = "SB" + hashlib.sha256(number.encode()).hexdigest()[:32]
        return PurchasedNumber(number=number, provider_sid=sid)

    def configure_webhooks(self, provider_sid: str, *, voice_url: str, status_url: str) -> None:
        return None

    def release_number(self, provider_sid: str) -> None:
        return None

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The signature a simulated call carries."""
        signature: str = self.validator.compute_signature(url, dict(params))
        return signature

    def verify_request(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        return bool(signature) and bool(self.validator.validate(url, dict(params), signature))
