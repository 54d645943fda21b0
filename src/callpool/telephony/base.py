"""The one small interface every telephony provider implements (one folder per provider)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class ProviderError(Exception):
    """A provider refused or failed. ``permanent`` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class PurchasedNumber:
    number: str  # E.164
    provider_sid: str


@dataclass(frozen=True)
class InboundCall:
    """A call arriving at a tracker, as the provider's voice webhook describes it."""

    call_id: str
    to_number: str  # the tracker, E.164
    from_number: str
    at: datetime | None = None


@dataclass(frozen=True)
class StatusUpdate:
    call_id: str
    status: str  # ringing | in-progress | completed | busy | no-answer | failed | canceled
    duration: int | None = None
    recording_url: str | None = None
    sequence: int | None = None  # provider's ordering of callbacks, when it sends one
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Forward:
    """How to route a call: dial ``to`` showing the caller's number."""

    to: str
    caller_id: str
    record: bool = False
    whisper: str | None = None
    status_callback_url: str | None = None


class Provider(ABC):
    name: str

    @abstractmethod
    def search_numbers(self, *, area_code: str | None, toll_free: bool, limit: int) -> list[str]:
        """Numbers (E.164) that can be bought now."""

    @abstractmethod
    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        """Buy ``number`` with its webhooks pointed at callpool."""

    @abstractmethod
    def release_number(self, provider_sid: str) -> None:
        """Give a number back to the provider."""

    @abstractmethod
    def verify_request(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether a webhook really comes from the provider."""

    @abstractmethod
    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall: ...

    @abstractmethod
    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate: ...

    @abstractmethod
    def forward_response(self, forward: Forward) -> tuple[str, str]:
        """The webhook answer that routes the call: (body, media type)."""
