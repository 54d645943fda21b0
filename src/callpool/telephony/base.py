"""The one small interface every telephony provider implements (one folder per provider)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit


class ProviderError(Exception):
    """A provider refused or failed. ``permanent`` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent

    @property
    def http_status(self) -> int:
        """The HTTP answer it becomes: a refusal (bad area code, number gone) is the request's
        fault (422); an outage is not (502)."""
        return 422 if self.permanent else 502

    def explain(self, outcome: str = "Nothing was changed") -> str:
        """The failure in a user's words, with what became of their request (``outcome``):
        the one wording the REST API and the dashboard show."""
        if self.permanent:
            return f"The telephony provider refused: {self}. {outcome}."
        return f"The telephony provider could not be reached ({self}). {outcome}; retry."


class CallStatus(StrEnum):
    """Where a call stands, in callpool's words; each provider maps its own statuses to these.
    The values are what ``calls.status`` stores and the API shows."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        """Calls only move forward: a callback of a lower rank than the stored one is stale."""
        return _RANKS[self]

    @property
    def final(self) -> bool:
        """The call is over (answered and hung up, or never answered)."""
        return self.rank == FINAL_RANK


FINAL_RANK = 4
# Over, and nobody answered: told as a missed call (emails, reports).
MISSED = (CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED, CallStatus.CANCELED)
_RANKS = {
    CallStatus.QUEUED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: FINAL_RANK,
    CallStatus.BUSY: FINAL_RANK,
    CallStatus.NO_ANSWER: FINAL_RANK,
    CallStatus.FAILED: FINAL_RANK,
    CallStatus.CANCELED: FINAL_RANK,
}


@dataclass(frozen=True)
class PurchasedNumber:
    number: str  # E.164
    provider_sid: str


# The caller's line types callpool keeps (``calls.caller_line_type``). Fixed VoIP is a desk
# phone or an office system: like a landline, not the phone a visitor browses on. A provider
# maps its own names to these and drops the rest (a non-fixed VoIP app runs on any device).
MOBILE_LINE, LANDLINE, VOIP = "mobile", "landline", "voip"
LINE_TYPES = (MOBILE_LINE, LANDLINE, VOIP)


@dataclass(frozen=True)
class InboundCall:
    """A call arriving at a tracker, as the provider's voice webhook describes it."""

    call_id: str
    to_number: str  # the tracker, E.164
    from_number: str
    at: datetime | None = None
    # The caller's line, where the carrier says (``LINE_TYPES``): evidence for attribution.
    line_type: str | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """A status (or recording) callback about one inbound call.

    ``call_id`` names the inbound call callpool stored, also when the callback is about the
    forwarded leg (``dialed``): Twilio reports that leg under its own CallSid, with the inbound
    call as ParentCallSid.
    """

    call_id: str
    status: CallStatus | None  # None for a callback that only carries a recording
    duration: int | None = None
    recording_url: str | None = None
    recording_at: datetime | None = None  # when the recording began, by the provider's clock
    sequence: int | None = None  # provider's ordering of callbacks, when it sends one
    dialed: bool = False  # about the forwarded leg rather than the inbound call
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Forward:
    """How to route a call: dial ``to`` showing the caller's number."""

    to: str
    caller_id: str
    record: bool = False
    whisper: str | None = None  # said to the business when it answers, before the caller
    status_callback_url: str | None = None
    whisper_url: str | None = None  # where the provider fetches the whisper


def webhook_urls(public_url: str, provider_name: str) -> tuple[str, str]:
    """(voice URL, status URL) of a provider's webhooks (``calls/webhooks.py`` serves them):
    what a number is bought with, or re-pointed at when the public URL changed."""
    base = webhook_base(public_url, provider_name)
    return f"{base}/voice", f"{base}/status"


def webhook_base(public_url: str, provider_name: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/{provider_name}"


class Provider(ABC):
    name: str

    @abstractmethod
    def search_numbers(self, *, area_code: str | None, toll_free: bool, limit: int) -> list[str]:
        """Numbers (E.164) that can be bought now."""

    @abstractmethod
    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        """Buy ``number`` with its webhooks pointed at callpool."""

    @abstractmethod
    def configure_webhooks(self, provider_sid: str, *, voice_url: str, status_url: str) -> None:
        """Point an owned number's webhooks at callpool (e.g. after the public URL changed)."""

    @abstractmethod
    def release_number(self, provider_sid: str) -> None:
        """Give a number back to the provider. Releasing a number already gone is not an error."""

    @abstractmethod
    def owned_numbers(self) -> list[PurchasedNumber]:
        """Every number this account owns at the provider: how the worker tells a purchase
        that happened before a crash from one that did not."""

    @abstractmethod
    def verify_request(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Whether a webhook really comes from the provider."""

    @abstractmethod
    def signature(self, headers: Mapping[str, str]) -> str | None:
        """The signature a webhook request carries (in the provider's own header), if any."""

    # Hosts that serve this provider's recordings over https. A recording URL from anywhere
    # else is dropped: it would be shown to the account as a link to listen to.
    recording_hosts: tuple[str, ...] = ()

    def trusted_recording_url(self, url: str) -> bool:
        """Whether ``url`` is one of this provider's recordings: https, on its own host."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        return (
            parts.scheme == "https"
            and parts.hostname in self.recording_hosts
            and port in (None, 443)
            and parts.username is None
        )

    @abstractmethod
    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall: ...

    @abstractmethod
    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate: ...

    @abstractmethod
    def forward_response(self, forward: Forward) -> tuple[str, str]:
        """The webhook answer that routes the call: (body, media type)."""

    @abstractmethod
    def not_in_service_response(self) -> tuple[str, str]:
        """The webhook answer for a call to a number that is no tracker: (body, media type)."""

    @abstractmethod
    def say_response(self, words: str) -> tuple[str, str]:
        """The answer that says ``words`` (a whisper to the business): (body, media type)."""
