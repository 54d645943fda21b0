"""Twilio: numbers through its REST API, calls through its voice webhooks (see ``wire``).

Every Twilio failure leaves this module as a ``ProviderError`` with a message a user can act on,
and ``permanent`` saying whether trying again later can help (a rate limit or an outage can;
bad credentials or an area code with no numbers cannot).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from callpool.settings import Settings
from callpool.telephony.base import (
    ProviderError,
    PurchasedNumber,
)
from callpool.telephony.twilio import wire

T = TypeVar("T")

# Seconds to wait for Twilio's API: a dashboard request must not hang on it.
API_TIMEOUT = 15.0
# Twilio's largest page of a list.
OWNED_PAGE_SIZE = 1000


class TwilioProvider(wire.TwilioWireProvider):
    name = "twilio"

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        *,
        api_base_url: str | None = None,
        country: str = "US",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base_url = api_base_url
        self.country = country
        self._client: Client | None = None
        self.owned_page_size = OWNED_PAGE_SIZE

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioProvider:
        """The configured provider; refuses to start without credentials."""
        if not settings.twilio_account_sid or not settings.twilio_auth_token:
            raise ValueError(
                "CALLPOOL_TELEPHONY_PROVIDER=twilio needs CALLPOOL_TWILIO_ACCOUNT_SID "
                "and CALLPOOL_TWILIO_AUTH_TOKEN"
            )
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            api_base_url=settings.twilio_api_base_url,
        )

    # Numbers

    def search_numbers(self, *, area_code: str | None, toll_free: bool, limit: int) -> list[str]:
        if area_code is not None and not _is_area_code(area_code):
            raise ProviderError(f"{area_code!r} is not a 3-digit area code", permanent=True)
        country = self._account().available_phone_numbers(self.country)
        if toll_free:
            found = self._call(lambda: country.toll_free.list(voice_enabled=True, limit=limit))
            what = "toll-free numbers"
        else:
            filters: dict[str, Any] = {"area_code": int(area_code)} if area_code else {}
            found = self._call(
                lambda: country.local.list(voice_enabled=True, limit=limit, **filters)
            )
            what = f"numbers in area code {area_code}" if area_code else "local numbers"
        if not found:
            raise ProviderError(
                f"Twilio has no {what} available right now; try another area code",
                permanent=True,
            )
        return [str(record.phone_number) for record in found]

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        numbers = self._account().incoming_phone_numbers
        record = self._call(
            lambda: numbers.create(phone_number=number, **_webhooks(voice_url, status_url))
        )
        return PurchasedNumber(number=str(record.phone_number), provider_sid=str(record.sid))

    def configure_webhooks(self, provider_sid: str, *, voice_url: str, status_url: str) -> None:
        number = self._account().incoming_phone_numbers(provider_sid)
        self._call(lambda: number.update(**_webhooks(voice_url, status_url)))

    def release_number(self, provider_sid: str) -> None:
        number = self._account().incoming_phone_numbers(provider_sid)
        try:
            self._call(number.delete)
        except _AlreadyGone:
            return  # released before (perhaps by hand in Twilio's console): the goal is met

    def owned_numbers(self) -> list[PurchasedNumber]:
        numbers = self._account().incoming_phone_numbers
        records = self._call(lambda: numbers.list(page_size=self.owned_page_size))
        return [PurchasedNumber(str(r.phone_number), str(r.sid)) for r in records]

    # Webhooks

    def verify_request(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature or not self.auth_token:
            return False
        return bool(RequestValidator(self.auth_token).validate(url, dict(params), signature))

    # Plumbing

    def _account(self) -> Any:
        return self._rest().api.v2010.accounts(self.account_sid)

    def _rest(self) -> Client:
        if not self.account_sid or not self.auth_token:
            raise ProviderError(
                "Twilio is not configured: set CALLPOOL_TWILIO_ACCOUNT_SID and "
                "CALLPOOL_TWILIO_AUTH_TOKEN",
                permanent=True,
            )
        if self._client is None:
            client = Client(
                self.account_sid,
                self.auth_token,
                http_client=TwilioHttpClient(timeout=API_TIMEOUT),
            )
            if self.api_base_url:
                client.api.base_url = self.api_base_url.rstrip("/")
            self._client = client
        return self._client

    def _call(self, request: Callable[[], T]) -> T:
        try:
            return request()
        except TwilioRestException as error:
            raise _error(error.status, error.msg, error.code) from error
        except TwilioException as error:
            # Listing pages fails with the bare HTTP response instead of a TwilioRestException.
            response = error.args[1] if len(error.args) > 1 else None
            status = getattr(response, "status_code", None)
            if not isinstance(status, int):
                raise ProviderError(f"Twilio: {error.args[0]}", permanent=False) from error
            message, code = _error_body(getattr(response, "text", ""))
            raise _error(status, message, code) from error
        except OSError as error:  # requests' connection errors and timeouts are OSErrors
            raise ProviderError(f"could not reach Twilio: {error}", permanent=False) from error


class _AlreadyGone(ProviderError):
    """404 from Twilio: the number (or resource) does not exist."""


def _error(status: int, message: str | None, code: int | None) -> ProviderError:
    words = describe(status, message, code)
    if status == 404:
        return _AlreadyGone(words, permanent=True)
    return ProviderError(words, permanent=is_permanent(status))


def _error_body(text: str) -> tuple[str | None, int | None]:
    try:
        body = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    return body.get("message"), code if isinstance(code, int) else None


def describe(status: int, message: str | None, code: int | None) -> str:
    """Twilio's failure in words a dashboard user understands."""
    if status in (401, 403):
        return (
            "Twilio refused the credentials: check CALLPOOL_TWILIO_ACCOUNT_SID and "
            "CALLPOOL_TWILIO_AUTH_TOKEN"
        )
    if status == 429:
        return "Twilio is rate limiting requests; try again in a minute"
    if status >= 500:
        return f"Twilio is having trouble (HTTP {status}); try again later"
    detail = message or f"request refused (HTTP {status})"
    return f"Twilio: {detail}" + (f" (Twilio error {code})" if code else "")


def is_permanent(status: int) -> bool:
    """Only a rate limit, a timeout or a server error may pass when tried again."""
    return not (status in (408, 429) or status >= 500)


def _webhooks(voice_url: str, status_url: str) -> dict[str, str]:
    return {
        "voice_url": voice_url,
        "voice_method": "POST",
        "status_callback": status_url,
        "status_callback_method": "POST",
    }


def _is_area_code(value: str) -> bool:
    return len(value) == 3 and value.isdigit() and value[0] not in "01"
