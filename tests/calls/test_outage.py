"""The database goes away: calls are still forwarded, spooled, and stored once it is back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.calls.service import replay_spool
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Site
from callpool.settings import Settings
from tests.calls.conftest import BUSINESS, CALLER, Factory, calls_in, post_webhook, voice_params

VOICE, STATUS = "/webhooks/twilio/voice", "/webhooks/twilio/status"


def unreachable_url(database: Database, tmp_path: Path) -> str:
    if database.is_sqlite:
        return f"sqlite:///{tmp_path}/no-such-directory/callpool.db"
    return "postgresql+psycopg://postgres@127.0.0.1:1/callpool?connect_timeout=3"


def spooled(settings: Settings) -> list[Path]:
    return sorted(settings.call_spool_dir.glob("*.json"))


def test_a_new_process_with_the_database_down_forwards_from_the_file_and_replays_later(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    tracker = factory.tracker(factory.pool(site), original_number="+15125550777")
    visit = factory.session(site, source="google", medium="cpc")
    factory.lease(tracker, visit, clock.now(), clock.now().replace(hour=13))
    with TestClient(create_app(settings, database)):
        pass  # starting the app warms the routing table from the database
    cached = json.loads(settings.routing_cache_path.read_text())
    assert cached["routes"][tracker.number]["forward_to"] == "+15125550777"

    # Another process starts while the database is unreachable; it only has the file.
    elsewhere = tmp_path / "elsewhere" / "routing.json"
    elsewhere.parent.mkdir()
    shutil.copy(settings.routing_cache_path, elsewhere)
    down = settings.model_copy(
        update={
            "database_url": unreachable_url(database, tmp_path),
            "routing_cache_path": elsewhere,
        }
    )
    call_time = clock.now()
    with TestClient(create_app(down, Database(down.database_url))) as client:
        answer = post_webhook(client, down, VOICE, voice_params(tracker.number))
        clock.advance(minutes=2)
        done = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "95"}
        status = post_webhook(client, down, STATUS, done)
        stranger = post_webhook(client, down, VOICE, voice_params("+15125550999", call_id="CA2"))

    assert answer.status_code == 200
    assert '<Dial callerId="+14155550123"' in answer.text
    assert "+15125550777</Number>" in answer.text
    assert status.status_code == 200
    assert "<Dial" not in stranger.text
    assert len(spooled(down)) == 2
    assert calls_in(database) == []

    # The database is back; the worker replays the spool (an hour later).
    clock.advance(hours=1)
    assert replay_spool(database, down) == 2
    assert replay_spool(database, down) == 0

    [call] = calls_in(database)
    assert call.provider_call_id == "CA1"
    assert call.from_number == CALLER
    assert call.forwarded_to == "+15125550777"
    assert call.started_at == call_time
    assert call.session_id == visit.id
    assert call.attribution_reason == "lease"
    assert (call.status, call.duration) == ("completed", 95)
    assert spooled(down) == []


def test_a_running_process_keeps_forwarding_when_its_database_goes_away(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    tmp_path: Path,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    app = create_app(settings, database)
    with TestClient(app) as client:
        gone = Database(unreachable_url(database, tmp_path))
        app.state.database = gone
        answer = post_webhook(client, settings, VOICE, voice_params(tracker.number))
        replayed_while_down = replay_spool(gone, settings)
        # The carrier retries the webhook once the database is back: still one call.
        app.state.database = database
        retried = post_webhook(client, settings, VOICE, voice_params(tracker.number))

    assert f"{BUSINESS}</Number>" in answer.text
    assert retried.text == answer.text
    assert replayed_while_down == 0
    assert len(spooled(settings)) == 1  # given back, not lost
    assert replay_spool(database, settings) == 1
    assert len(calls_in(database)) == 1


def test_status_for_a_call_still_in_the_spool_waits_for_it(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    tmp_path: Path,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    app = create_app(settings, database)
    with TestClient(app) as client:
        app.state.database = Database(unreachable_url(database, tmp_path))
        post_webhook(client, settings, VOICE, voice_params(tracker.number))
        app.state.database = database
        # The database is back before the worker replayed the call.
        done = {"CallSid": "CA1", "CallStatus": "busy", "SequenceNumber": "4"}
        assert post_webhook(client, settings, STATUS, done).status_code == 200

    assert replay_spool(database, settings) == 2
    [call] = calls_in(database)
    assert call.status == "busy"


def test_an_unreadable_spool_entry_is_set_aside_and_the_rest_replayed(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    tmp_path: Path,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    app = create_app(settings, database)
    with TestClient(app) as client:
        app.state.database = Database(unreachable_url(database, tmp_path))
        post_webhook(client, settings, VOICE, voice_params(tracker.number))
    (settings.call_spool_dir / "00000000000000000001-call-CAbad.json").write_text("{not json")

    assert replay_spool(database, settings) == 1

    assert len(calls_in(database)) == 1
    assert spooled(settings) == []
    failed = settings.call_spool_dir / "failed"
    assert (failed / "00000000000000000001-call-CAbad.json").exists()


@contextmanager
def calls_table_locked(database: Database) -> Iterator[None]:
    """Another connection holds the calls table: the webhook's queries wait, as on a stuck
    database, until it lets go."""
    with database.engine.connect() as other:
        if database.is_sqlite:
            other.exec_driver_sql("SELECT 1")  # opens with BEGIN IMMEDIATE: the write lock
        else:
            other.exec_driver_sql("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            other.rollback()


def test_a_database_too_slow_to_answer_does_not_hold_up_the_call(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    impatient = settings.model_copy(update={"webhook_db_deadline_seconds": 0.5})
    app = create_app(impatient, database)
    with TestClient(app) as client:
        with calls_table_locked(database):
            answer = post_webhook(client, impatient, VOICE, voice_params(tracker.number))
            assert f"{BUSINESS}</Number>" in answer.text
            assert len(spooled(impatient)) == 1
        # The stuck request may store the call itself once the lock goes; the replay then
        # finds it stored. Either way: one call.
        replay_spool(database, impatient)

    assert [call.provider_call_id for call in calls_in(database)] == ["CA1"]
