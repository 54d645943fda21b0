"""Twilio's webhook wire format: form parameters in, TwiML out.

The sandbox provider speaks it too, so a simulated call exercises the same code path as a real one.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Dial, VoiceResponse

from callpool.telephony.base import Forward, InboundCall, StatusUpdate

# Twilio sends these when a call moves; later states never go back to earlier ones.
STATUS_RANK = {
    "queued": 1,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}


def parse_inbound(params: Mapping[str, str]) -> InboundCall:
    try:
        return InboundCall(
            call_id=params["CallSid"], to_number=params["To"], from_number=params["From"]
        )
    except KeyError as missing:
        raise ValueError(f"voice webhook without {missing.args[0]}") from None


def parse_status(params: Mapping[str, str]) -> StatusUpdate:
    if "CallSid" not in params or "CallStatus" not in params:
        raise ValueError("status callback without CallSid or CallStatus")
    duration = params.get("CallDuration") or params.get("DialCallDuration")
    sequence = params.get("SequenceNumber")
    return StatusUpdate(
        call_id=params["CallSid"],
        status=params["CallStatus"],
        duration=int(duration) if duration and duration.isdigit() else None,
        recording_url=params.get("RecordingUrl"),
        sequence=int(sequence) if sequence and sequence.isdigit() else None,
    )


def forward_twiml(forward: Forward) -> str:
    """``<Dial>`` the business, showing the caller's own number so they can call back."""
    response = VoiceResponse()
    dial = Dial(
        caller_id=forward.caller_id,
        record="record-from-answer-dual" if forward.record else None,
    )
    dial.number(
        forward.to,
        status_callback=forward.status_callback_url,
        status_callback_event="initiated ringing answered completed"
        if forward.status_callback_url
        else None,
    )
    response.append(dial)
    return str(response)
