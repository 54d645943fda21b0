"""Twilio's wire format: the callbacks we parse and the TwiML we answer."""

from __future__ import annotations

import pytest

from callpool.telephony.base import Forward
from callpool.telephony.twilio import wire


def test_a_forwarded_leg_callback_is_about_the_parent_call() -> None:
    update = wire.parse_status(
        {
            "CallSid": "CAchild",
            "ParentCallSid": "CAparent",
            "CallStatus": "no-answer",
            "SequenceNumber": "3",
        }
    )

    assert (update.call_id, update.status, update.dialed, update.sequence) == (
        "CAparent",
        "no-answer",
        True,
        3,
    )


def test_a_recording_callback_carries_no_status() -> None:
    update = wire.parse_status({"CallSid": "CA1", "RecordingUrl": "https://r/RE1"})

    assert update.status is None
    assert update.recording_url == "https://r/RE1"
    assert not update.dialed


@pytest.mark.parametrize(
    "params",
    [{"CallStatus": "completed"}, {"CallSid": "CA1"}, {"CallSid": "CA1", "CallStatus": "weird"}],
)
def test_callbacks_missing_what_we_need_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="Call"):
        wire.parse_status(params)


def test_forward_twiml_dials_with_caller_id_recording_and_callbacks() -> None:
    twiml = wire.forward_twiml(
        Forward(
            to="+15125550000",
            caller_id="+14155550123",
            record=True,
            status_callback_url="https://x.test/webhooks/twilio/status",
        )
    )

    assert '<Dial callerId="+14155550123" record="record-from-answer-dual"' in twiml
    assert 'statusCallback="https://x.test/webhooks/twilio/status"' in twiml
    assert 'statusCallbackEvent="initiated ringing answered completed"' in twiml
    assert ">+15125550000</Number>" in twiml


def test_not_in_service_says_so_and_hangs_up() -> None:
    twiml = wire.not_in_service_twiml()

    assert "<Say>The number you have called is not in service. Goodbye.</Say>" in twiml
    assert twiml.endswith("<Hangup /></Response>")
