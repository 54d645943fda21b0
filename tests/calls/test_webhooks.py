"""Voice and status webhooks: signatures first, TwiML that forwards, one record per call."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from callpool.calls import spool
from callpool.calls.service import receive_call, replay, replay_spool, simulate_call
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Site
from callpool.settings import Settings
from callpool.telephony.base import Forward, InboundCall
from callpool.telephony.sandbox import simulate
from tests.calls.conftest import (
    CALLER,
    Factory,
    calls_in,
    post_webhook,
    settled,
    twilio_signature,
    voice_params,
)
from tests.factories import BUSINESS

VOICE, STATUS = "/webhooks/twilio/voice", "/webhooks/twilio/status"


def parse(twiml: str) -> ET.Element:
    return ET.fromstring(twiml)  # noqa: S314 (the app's own answer, not untrusted input)


def dial_of(twiml: str) -> ET.Element:
    dial = parse(twiml).find("Dial")
    assert dial is not None, twiml
    return dial


def test_voice_webhook_forwards_to_the_original_number_with_the_caller_id(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site))

    answer = post_webhook(client, settings, VOICE, voice_params(tracker.number))

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    dial = dial_of(answer.text)
    assert dial.get("callerId") == CALLER
    assert dial.get("record") is None
    number = dial.find("Number")
    assert number is not None
    assert number.text == BUSINESS
    assert number.get("statusCallback") == "https://callpool.test/webhooks/twilio/status"
    [call] = calls_in(database)
    assert (call.provider, call.provider_call_id, call.to_number) == (
        "twilio",
        "CA1",
        tracker.number,
    )
    assert call.forwarded_to == BUSINESS
    assert call.status == "ringing"


def test_tracker_number_fixed_at_activation_wins_and_recording_follows_the_pool(
    client: TestClient, settings: Settings, factory: Factory, site: Site
) -> None:
    pool = factory.pool(site, record=True)
    tracker = factory.tracker(pool, original_number="+15125559999")

    dial = dial_of(post_webhook(client, settings, VOICE, voice_params(tracker.number)).text)

    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == "https://callpool.test/webhooks/twilio/status"
    number = dial.find("Number")
    assert number is not None
    assert number.text == "+15125559999"


def test_a_replayed_voice_webhook_answers_the_same_and_stores_one_call(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site))

    first = post_webhook(client, settings, VOICE, voice_params(tracker.number))
    again = post_webhook(client, settings, VOICE, voice_params(tracker.number))

    assert again.status_code == 200
    assert again.text == first.text
    assert len(calls_in(database)) == 1


def test_a_call_to_a_number_that_is_no_tracker_hears_a_message_and_is_not_stored(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    released = factory.tracker(factory.pool(site), status="released")

    for number in (released.number, "+15125550999"):
        answer = post_webhook(client, settings, VOICE, voice_params(number, call_id=number))
        assert answer.status_code == 200
        response = parse(answer.text)
        assert response.find("Dial") is None
        assert response.find("Say") is not None
        assert response.find("Hangup") is not None
    assert calls_in(database) == []


@pytest.mark.parametrize(
    "forgery",
    ["tampered parameter", "wrong URL", "missing header", "other provider's key", "query added"],
)
def test_webhooks_with_a_bad_signature_are_refused_and_store_nothing(
    forgery: str,
    client: TestClient,
    settings: Settings,
    factory: Factory,
    site: Site,
    database: Database,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    params = voice_params(tracker.number)
    token = settings.twilio_auth_token
    assert token
    url = settings.public_url + VOICE
    path = VOICE
    headers = {"X-Twilio-Signature": twilio_signature(token, url, params)}
    if forgery == "tampered parameter":
        params = {**params, "From": "+19005550000"}
    elif forgery == "wrong URL":
        headers = {"X-Twilio-Signature": twilio_signature(token, url + "x", params)}
    elif forgery == "missing header":
        headers = {}
    elif forgery == "other provider's key":
        headers = {"X-Twilio-Signature": twilio_signature(settings.secret_key, url, params)}
    elif forgery == "query added":
        path = VOICE + "?extra=1"

    answer = client.post(path, data=params, headers=headers)

    assert answer.status_code == 403
    assert calls_in(database) == []
    # The status webhook is guarded the same way.
    status = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "5"}
    assert client.post(STATUS, data=status, headers=headers).status_code == 403


def test_signature_covers_the_query_string(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site))

    answer = post_webhook(client, settings, VOICE + "?region=us1", voice_params(tracker.number))

    assert answer.status_code == 200
    assert len(calls_in(database)) == 1


def test_signed_but_incomplete_webhook_is_a_400(
    client: TestClient, settings: Settings, database: Database
) -> None:
    answer = post_webhook(client, settings, VOICE, {"CallSid": "CA1", "To": "+15125550100"})

    assert answer.status_code == 400
    assert "From" in answer.json()["detail"]
    assert calls_in(database) == []


def test_status_callbacks_out_of_order_and_replayed_leave_one_correct_record(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site))
    post_webhook(client, settings, VOICE, voice_params(tracker.number))
    ringing = {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"}
    answered = {"CallSid": "CA1", "CallStatus": "in-progress", "SequenceNumber": "2"}
    completed = {
        "CallSid": "CA1",
        "CallStatus": "completed",
        "CallDuration": "42",
        "SequenceNumber": "3",
    }

    for params in (ringing, completed, answered, ringing, completed):
        assert post_webhook(client, settings, STATUS, params).status_code == 200

    [call] = calls_in(database)
    assert call.status == "completed"
    assert call.duration == 42
    assert call.ended_at is not None


def test_the_forwarded_legs_outcome_wins_whichever_leg_reports_first(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site))
    post_webhook(client, settings, VOICE, voice_params(tracker.number, call_id="CA1"))
    post_webhook(client, settings, VOICE, voice_params(tracker.number, call_id="CA2"))
    inbound_done = {"CallStatus": "completed", "CallDuration": "31", "SequenceNumber": "0"}
    nobody_answered = {"CallStatus": "no-answer", "SequenceNumber": "2"}

    # CA1: the inbound leg reports first; CA2: the forwarded leg (its own sid, the parent's id).
    post_webhook(client, settings, STATUS, {"CallSid": "CA1", **inbound_done})
    post_webhook(
        client, settings, STATUS, {"CallSid": "CA9", "ParentCallSid": "CA1", **nobody_answered}
    )
    post_webhook(
        client, settings, STATUS, {"CallSid": "CA8", "ParentCallSid": "CA2", **nobody_answered}
    )
    post_webhook(client, settings, STATUS, {"CallSid": "CA2", **inbound_done})

    first, second = calls_in(database)
    assert (first.status, second.status) == ("no-answer", "no-answer")
    assert (first.duration, second.duration) == (31, 31)


def test_recording_callback_stores_the_recording_url(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site, record=True))
    post_webhook(client, settings, VOICE, voice_params(tracker.number))
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"

    recording = {"CallSid": "CA1", "RecordingUrl": url, "RecordingStatus": "completed"}
    assert post_webhook(client, settings, STATUS, recording).status_code == 200

    [call] = calls_in(database)
    assert call.recording_url == url
    assert call.status == "ringing"


def test_status_for_an_unknown_call_is_answered_200_and_stores_nothing(
    client: TestClient, settings: Settings, database: Database
) -> None:
    params = {"CallSid": "CAunknown", "CallStatus": "completed", "CallDuration": "3"}

    assert post_webhook(client, settings, STATUS, params, settle=False).status_code == 200

    assert replay(database, settings).stored == 0
    assert calls_in(database) == []
    # Kept, not applied: its call may yet come from another process's spool (a day at most,
    # tests/calls/test_outage.py).
    assert spool.pending(settings.call_spool_dir) == 1


def test_sandbox_webhooks_are_signed_with_the_secret_key(
    client: TestClient,
    settings: Settings,
    factory: Factory,
    site: Site,
    database: Database,
    clock: FrozenClock,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    voice = simulate.voice_request(settings, to_number=tracker.number, from_number=CALLER)

    answer = client.post(voice.path, data=voice.data, headers=voice.headers)
    done = simulate.status_request(settings, call_id=voice.call_id, status="completed", duration=7)
    client.post(done.path, data=done.data, headers=done.headers)
    settled(settings)
    # A Twilio-signed request is no good on the sandbox's route, and the reverse.
    forged = post_webhook(client, settings, "/webhooks/sandbox/voice", voice.data)

    assert answer.status_code == 200
    assert dial_of(answer.text).get("callerId") == CALLER
    assert forged.status_code == 403
    [call] = calls_in(database)
    assert (call.provider, call.status, call.duration) == ("sandbox", "completed", 7)


def test_unknown_provider_path_is_404(client: TestClient) -> None:
    assert client.post("/webhooks/plivo/voice", data={}).status_code == 404


def test_the_pools_whisper_is_played_to_the_business_on_answer(
    client: TestClient, settings: Settings, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site, whisper="Call from the website"))

    answer = post_webhook(client, settings, VOICE, voice_params(tracker.number))
    number = dial_of(answer.text).find("Number")
    assert number is not None
    url = number.get("url")
    assert url == "https://callpool.test/webhooks/twilio/whisper?say=Call+from+the+website"

    path = url.removeprefix(settings.public_url)
    played = post_webhook(client, settings, path, {"CallSid": "CAchild"})
    unsigned = client.post(path, data={"CallSid": "CAchild"})

    assert played.status_code == 200
    assert "<Say>Call from the website</Say>" in played.text
    assert unsigned.status_code == 403


def test_a_simulated_call_in_process_takes_the_webhooks_path(
    settings: Settings, database: Database, factory: Factory, site: Site, clock: FrozenClock
) -> None:
    tracker = factory.tracker(factory.pool(site))
    visit = factory.session(site, source="google", medium="cpc")
    factory.lease(tracker, visit, clock.now(), clock.now().replace(hour=13))

    forward = simulate_call(
        database, settings, to_number=tracker.number, from_number=CALLER, call_id="CAsim"
    )
    unanswered = simulate_call(
        database,
        settings,
        to_number=tracker.number,
        from_number="+14155550100",
        call_id="CAsim2",
        answered_seconds=None,
    )
    nowhere = simulate_call(
        database, settings, to_number="+15125550999", from_number=CALLER, call_id="CAsim3"
    )

    assert forward is not None
    assert forward.to == BUSINESS
    assert unanswered is not None
    assert nowhere is None
    answered, missed = calls_in(database)
    assert (answered.provider, answered.status, answered.duration) == ("sandbox", "completed", 60)
    assert answered.session_id == visit.id
    assert missed.status == "no-answer"


def test_the_same_call_delivered_many_times_at_once_is_stored_once(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    inbound = InboundCall(call_id="CAdup", to_number=tracker.number, from_number=CALLER)
    start = threading.Barrier(6)

    def deliver(_: int) -> Forward | None:
        start.wait()
        return receive_call(database, settings, "twilio", inbound)

    def replay(_: int) -> int:
        start.wait()
        return replay_spool(database, settings)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(deliver, range(6)))
        # Several replayers at once (app processes, the worker) store it once.
        replayed = sum(pool.map(replay, range(6)))

    assert all(answer is not None and answer.to == BUSINESS for answer in answers)
    assert replayed == 6
    assert [call.provider_call_id for call in calls_in(database)] == ["CAdup"]
    assert spooled_nothing(settings)


def spooled_nothing(settings: Settings) -> bool:
    return not settings.call_spool_dir.exists() or not any(settings.call_spool_dir.iterdir())
