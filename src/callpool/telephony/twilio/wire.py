"""Twilio's webhook wire format: form parameters in, TwiML out.

The sandbox provider speaks it too, so a simulated call exercises the same code path as a real one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from twilio.twiml.voice_response import Dial, VoiceResponse

from callpool.telephony.base import (
    LANDLINE,
    MOBILE_LINE,
    VOIP,
    CallStatus,
    Forward,
    InboundCall,
    Provider,
    StatusUpdate,
)

log = logging.getLogger(__name__)

# Twilio's CallStatus values (and a ``<Number>``'s status_callback_event names) in callpool's
# words: "initiated" and "answered" are the forwarded leg's names for "queued", "in-progress".
STATUSES = {
    "queued": CallStatus.QUEUED,
    "initiated": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "answered": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
# The header Twilio signs its webhooks in (the sandbox signs its simulated ones there too).
SIGNATURE_HEADER = "X-Twilio-Signature"

TWIML = "application/xml"
NOT_IN_SERVICE = "The number you have called is not in service. Goodbye."


# Line types as Twilio's lookups name them (Lookup v2 Line Type Intelligence; v1 carrier
# info, which says "voip" for every kind), in callpool's words. The rest (nonFixedVoip,
# tollFree, pager, voicemail …) say nothing about the device the caller browsed on.
TWILIO_LINE_TYPES = {
    "mobile": MOBILE_LINE,
    "landline": LANDLINE,
    "fixedVoip": VOIP,
    "voip": VOIP,
}


def parse_inbound(params: Mapping[str, str]) -> InboundCall:
    try:
        return InboundCall(
            call_id=params["CallSid"],
            to_number=params["To"],
            from_number=params["From"],
            line_type=line_type_of(params.get("AddOns")),
        )
    except KeyError as missing:
        raise ValueError(f"voice webhook without {missing.args[0]}") from None


def line_type_of(addons: str | None) -> str | None:
    """The caller's line type from the ``AddOns`` parameter: the results of the Add-ons
    enabled on the number (a line-type or caller-identity lookup), one JSON document. Any
    shape we do not know is no line type: a call is answered whatever an Add-on sent."""
    if not addons:
        return None
    try:
        document = json.loads(addons)
    except ValueError:
        log.warning("voice webhook with an unreadable AddOns parameter: ignored")
        return None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict):
        return None
    for result in results.values():
        found = _line_type_in(result)
        if found is not None:
            return found
    return None


def _line_type_in(result: object) -> str | None:
    """One Add-on's result: {"status": "successful", "result": {...}}, the line type under
    ``line_type_intelligence.type`` (Lookup v2), ``carrier.type`` (Lookup v1 carrier info)
    or ``line_type`` (marketplace lookups)."""
    if not isinstance(result, dict) or result.get("status") != "successful":
        return None
    body = result.get("result")
    if not isinstance(body, dict):
        return None
    for container, key in (("line_type_intelligence", "type"), ("carrier", "type")):
        inner = body.get(container)
        if isinstance(inner, dict) and isinstance(inner.get(key), str):
            return TWILIO_LINE_TYPES.get(inner[key])
    named = body.get("line_type")
    return TWILIO_LINE_TYPES.get(named) if isinstance(named, str) else None


def parse_status(params: Mapping[str, str]) -> StatusUpdate:
    """A call status callback, a ``<Number>`` (forwarded leg) callback or a recording callback.

    The forwarded leg has its own CallSid; ParentCallSid names the inbound call we stored.
    A recording callback carries RecordingUrl and no CallStatus.
    """
    if "CallSid" not in params:
        raise ValueError("status callback without CallSid")
    status = params.get("CallStatus")
    if status is None and not params.get("RecordingUrl"):
        raise ValueError("status callback without CallStatus or RecordingUrl")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown CallStatus {status!r}")
    parent = params.get("ParentCallSid")
    duration = params.get("CallDuration") or params.get("DialCallDuration")
    sequence = params.get("SequenceNumber")
    return StatusUpdate(
        call_id=parent or params["CallSid"],
        status=STATUSES[status] if status is not None else None,
        duration=int(duration) if duration and duration.isdigit() else None,
        recording_url=params.get("RecordingUrl") or None,
        recording_at=_rfc2822(params.get("RecordingStartTime")),
        sequence=int(sequence) if sequence and sequence.isdigit() else None,
        dialed=bool(parent),
    )


def _rfc2822(value: str | None) -> datetime | None:
    """Twilio's times (``Tue, 01 Dec 2026 03:00:00 +0000``); None if absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def forward_twiml(forward: Forward) -> str:
    """``<Dial>`` the business, showing the caller's own number so they can call back."""
    response = VoiceResponse()
    dial = Dial(
        caller_id=forward.caller_id,
        record="record-from-answer-dual" if forward.record else None,
        # The recording's URL arrives in its own callback, which the status webhook handles.
        recording_status_callback=forward.status_callback_url if forward.record else None,
    )
    dial.number(
        forward.to,
        # Twilio plays this URL's TwiML to the business on answer, then connects the caller.
        url=forward.whisper_url if forward.whisper else None,
        status_callback=forward.status_callback_url,
        status_callback_event="initiated ringing answered completed"
        if forward.status_callback_url
        else None,
    )
    response.append(dial)
    return str(response)


def say_twiml(words: str) -> str:
    response = VoiceResponse()
    response.say(words)
    return str(response)


def not_in_service_twiml() -> str:
    """Words rather than a silent reject: the caller learns the number is dead, not busy."""
    response = VoiceResponse()
    response.say(NOT_IN_SERVICE)
    response.hangup()
    return str(response)


class TwilioWireProvider(Provider):
    """The webhook half of a provider that speaks Twilio's wire format (Twilio, the sandbox)."""

    def parse_inbound(self, params: Mapping[str, str]) -> InboundCall:
        return parse_inbound(params)

    # Twilio serves recordings from its REST API (the sandbox names its own host).
    recording_hosts = ("api.twilio.com",)

    def parse_status(self, params: Mapping[str, str]) -> StatusUpdate:
        update = parse_status(params)
        if update.recording_url and not self.trusted_recording_url(update.recording_url):
            log.warning("dropped a recording URL not on %s's hosts", self.name)
            return replace(update, recording_url=None, recording_at=None)
        return update

    def signature(self, headers: Mapping[str, str]) -> str | None:
        return headers.get(SIGNATURE_HEADER)

    def forward_response(self, forward: Forward) -> tuple[str, str]:
        return forward_twiml(forward), TWIML

    def not_in_service_response(self) -> tuple[str, str]:
        return not_in_service_twiml(), TWIML

    def say_response(self, words: str) -> tuple[str, str]:
        return say_twiml(words), TWIML
