"""Recording callbacks: only the provider's https URLs are kept, and never an older one over a
newer one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callpool.db import Database
from callpool.models import Site
from callpool.settings import Settings
from callpool.telephony.sandbox.provider import SandboxProvider
from tests.calls.conftest import Factory, calls_in, post_webhook, voice_params

VOICE, STATUS = "/webhooks/twilio/voice", "/webhooks/twilio/status"
RECORDINGS = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings"


def recording(url: str, started: str | None = None) -> dict[str, str]:
    params = {"CallSid": "CA1", "RecordingUrl": url, "RecordingStatus": "completed"}
    if started is not None:
        params["RecordingStartTime"] = started
    return params


def test_recording_urls_not_from_the_provider_are_dropped(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site, record=True))
    post_webhook(client, settings, VOICE, voice_params(tracker.number))

    for url in (
        "javascript:alert(document.cookie)",
        f"http://api.twilio.com/{RECORDINGS[len('https://api.twilio.com/') :]}/RE1",
        "https://evil.example/RE1",
        "https://api.twilio.com.evil.example/RE1",
        "https://user@api.twilio.com/RE1",
        "https://api.twilio.com:8443/RE1",
    ):
        assert post_webhook(client, settings, STATUS, recording(url)).status_code == 200
        [call] = calls_in(database)
        assert call.recording_url is None, url

    post_webhook(client, settings, STATUS, recording(f"{RECORDINGS}/RE2"))
    [call] = calls_in(database)
    assert call.recording_url == f"{RECORDINGS}/RE2"


def test_an_older_recording_replayed_later_does_not_replace_a_newer_one(
    client: TestClient, settings: Settings, factory: Factory, site: Site, database: Database
) -> None:
    tracker = factory.tracker(factory.pool(site, record=True))
    post_webhook(client, settings, VOICE, voice_params(tracker.number))
    newer = recording(f"{RECORDINGS}/RE-new", "Tue, 01 Dec 2026 03:05:00 +0000")
    older = recording(f"{RECORDINGS}/RE-old", "Tue, 01 Dec 2026 03:00:00 +0000")
    newest = recording(f"{RECORDINGS}/RE-newest", "Tue, 01 Dec 2026 03:10:00 +0000")

    post_webhook(client, settings, STATUS, newer)
    post_webhook(client, settings, STATUS, older)
    [call] = calls_in(database)
    assert call.recording_url == f"{RECORDINGS}/RE-new"

    post_webhook(client, settings, STATUS, newest)
    [call] = calls_in(database)
    assert call.recording_url == f"{RECORDINGS}/RE-newest"


def test_the_sandbox_keeps_only_its_own_recording_urls(settings: Settings) -> None:
    sandbox = SandboxProvider(settings.secret_key)
    update = sandbox.parse_status(recording(f"{RECORDINGS}/RE1"))
    assert update.recording_url is None
    own = "https://recordings.sandbox.invalid/RE1"
    assert sandbox.parse_status(recording(own)).recording_url == own
