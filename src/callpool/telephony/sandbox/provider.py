"""A provider with fictional numbers, for the demo and the tests.

Numbers are 555-0100 … 555-0199 in the asked area code: reserved for fiction in the North
American plan, so a demo can never ring a real person. Webhooks use Twilio's wire format,
signed with callpool's own secret key, so a simulated call takes the same path as a real one.

It can also behave like a bad carrier (``CALLPOOL_SANDBOX_LATENCY_MS``,
``CALLPOOL_SANDBOX_FAILURE_RATE``), so an operator sees what callpool does when the carrier is
slow or failing. Like a real carrier it remembers which numbers it sold (``NumberBook``): a
number bought by a process that then crashed is still owned, and the worker finds it there.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from callpool.telephony.base import (
    ProviderError,
    PurchasedNumber,
)
from callpool.telephony.sandbox.book import MemoryBook, NumberBook
from callpool.telephony.twilio import wire

DEFAULT_AREA_CODE = "512"
# 555-0199 is left out: the demo business uses it as its real number.
FICTIONAL = range(100, 199)


class SandboxProvider(wire.TwilioWireProvider):
    name = "sandbox"
    # Simulated calls have no recordings; a simulated recording callback names this reserved
    # host (it never resolves), so no URL of the real world is ever kept from the sandbox.
    recording_hosts = ("recordings.sandbox.invalid",)

    def __init__(
        self,
        signing_key: str,
        *,
        latency_ms: float = 0,
        failure_rate: float = 0,
        rng: random.Random | None = None,
        book: NumberBook | None = None,
    ) -> None:
        """``rng`` decides which calls fail: tests pass a seeded one so runs repeat exactly."""
        if not 0 <= failure_rate <= 1:
            raise ValueError("the sandbox failure rate is a share between 0 and 1")
        self.validator = RequestValidator(signing_key)
        self.latency = latency_ms / 1000
        self.failure_rate = failure_rate
        self.rng = rng or random.Random()
        self.book = book or MemoryBook()

    def search_numbers(self, *, area_code: str | None, toll_free: bool, limit: int) -> list[str]:
        self._api_call("search")
        area = "800" if toll_free else (area_code or DEFAULT_AREA_CODE)
        if not (area.isdigit() and len(area) == 3 and area[0] not in "01"):
            raise ProviderError(f"area code {area!r} is not a valid US area code", permanent=True)
        owned = set(self.book.owned())
        numbers = [f"+1{area}5550{line:03d}" for line in FICTIONAL]
        return [number for number in numbers if number not in owned][:limit]

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        self._api_call("buy")
        sid = sandbox_sid(number)
        if not self.book.add(number, sid):
            raise ProviderError(f"the sandbox has already sold {number}", permanent=True)
        return PurchasedNumber(number=number, provider_sid=sid)

    def configure_webhooks(self, provider_sid: str, *, voice_url: str, status_url: str) -> None:
        self._api_call("configure")

    def release_number(self, provider_sid: str) -> None:
        self._api_call("release")
        self.book.remove(provider_sid)  # releasing a number already gone is not an error

    def owned_numbers(self) -> list[PurchasedNumber]:
        self._api_call("list")
        return [PurchasedNumber(number, sid) for number, sid in self.book.owned().items()]

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The signature a simulated call carries."""
        signature: str = self.validator.compute_signature(url, dict(params))
        return signature

    def verify_request(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        return bool(signature) and bool(self.validator.validate(url, dict(params), signature))

    def _api_call(self, what: str) -> None:
        """What a carrier's HTTP API costs: the wait (in the calling thread, as a real HTTP
        request would hold it) and, for the configured share of calls, a transient failure."""
        if self.latency > 0:
            time.sleep(self.latency)
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise ProviderError(
                f"the sandbox carrier failed the {what} (simulated)", permanent=False
            )


def sandbox_sid(number: str) -> str:
    return "SB" + hashlib.sha256(number.encode()).hexdigest()[:32]
