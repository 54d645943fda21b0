"""The database goes away: calls are still forwarded, spooled, and stored once it is back.

(``test_serve_outage.py`` does the same with real ``callpool serve`` processes.)"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callpool.app import create_app
from callpool.calls import spool
from callpool.calls.routing import refresh_routing
from callpool.calls.service import receive_call, receive_status, replay, replay_spool
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Site
from callpool.settings import Settings
from callpool.telephony.base import InboundCall, StatusUpdate
from tests.calls.conftest import (
    CALLER,
    Factory,
    calls_in,
    post_webhook,
    settled,
    voice_params,
)
from tests.factories import BUSINESS

VOICE, STATUS = "/webhooks/twilio/voice", "/webhooks/twilio/status"


def unreachable_url(database: Database, tmp_path: Path) -> str:
    if database.is_sqlite:
        return f"sqlite:///{tmp_path}/no-such-directory/callpool.db"
    return "postgresql+psycopg://postgres@127.0.0.1:1/callpool?connect_timeout=3"


def spooled(settings: Settings) -> int:
    return spool.pending(settings.call_spool_dir)


def app_without_database(
    settings: Settings, database: Database, tmp_path: Path
) -> tuple[Settings, TestClient]:
    """An app whose database is unreachable, with a routing table refreshed before it went."""
    refresh_routing(database, settings)
    down = settings.model_copy(update={"database_url": unreachable_url(database, tmp_path)})
    return down, TestClient(create_app(down, Database(down.database_url)))


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
        answer = post_webhook(client, down, VOICE, voice_params(tracker.number), settle=False)
        clock.advance(minutes=2)
        done = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "95"}
        status = post_webhook(client, down, STATUS, done, settle=False)
        stranger = post_webhook(
            client, down, VOICE, voice_params("+15125550999", call_id="CA2"), settle=False
        )

    assert answer.status_code == 200
    assert '<Dial callerId="+14155550123"' in answer.text
    assert "+15125550777</Number>" in answer.text
    assert status.status_code == 200
    assert "<Dial" not in stranger.text
    assert spooled(down) == 2
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
    assert spooled(down) == 0


def test_a_call_retried_by_the_carrier_during_an_outage_is_stored_once(
    settings: Settings, database: Database, factory: Factory, site: Site, tmp_path: Path
) -> None:
    tracker = factory.tracker(factory.pool(site))
    down, app = app_without_database(settings, database, tmp_path)
    with app as client:
        answer = post_webhook(client, down, VOICE, voice_params(tracker.number), settle=False)
        retried = post_webhook(client, down, VOICE, voice_params(tracker.number), settle=False)
        replayed_while_down = replay_spool(Database(down.database_url), down)

    assert f"{BUSINESS}</Number>" in answer.text
    assert retried.text == answer.text
    assert replayed_while_down == 0
    assert spooled(down) == 2  # given back, not lost
    assert replay_spool(database, down) == 2
    assert len(calls_in(database)) == 1


def test_status_for_a_call_still_in_the_spool_waits_for_it(
    settings: Settings, database: Database, factory: Factory, site: Site, tmp_path: Path
) -> None:
    tracker = factory.tracker(factory.pool(site))
    down, app = app_without_database(settings, database, tmp_path)
    with app as client:
        post_webhook(client, down, VOICE, voice_params(tracker.number), settle=False)
        done = {"CallSid": "CA1", "CallStatus": "busy", "SequenceNumber": "4"}
        assert post_webhook(client, down, STATUS, done, settle=False).status_code == 200

    assert replay_spool(database, down) == 2
    [call] = calls_in(database)
    assert call.status == "busy"


def test_a_status_overtaking_its_call_in_another_replayer_waits_for_it(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    receive_call(database, settings, "twilio", InboundCall("CA1", tracker.number, CALLER))
    receive_status(settings, StatusUpdate("CA1", "completed", duration=30, dialed=True))
    # Another replayer (the worker, another process on this folder) has claimed the call.
    claimed = next(spool.claim_all(settings.call_spool_dir))

    overtaking = replay(database, settings)
    assert (overtaking.stored, overtaking.unreachable) == (0, False)
    assert spooled(settings) == 2  # the status was given back, not dropped

    spool.release(claimed)  # say that replayer died: its claim goes back to the folder
    assert replay_spool(database, settings) == 2
    [call] = calls_in(database)
    assert (call.status, call.duration) == ("completed", 30)


def test_a_status_reaching_another_process_first_waits_for_its_call_for_a_day(
    settings: Settings, database: Database, factory: Factory, site: Site, clock: FrozenClock
) -> None:
    tracker = factory.tracker(factory.pool(site))
    # Behind a load balancer: process A took the call, process B its status callback, both
    # while the database was away; B replays first when it is back.
    a = settings.model_copy(update={"call_spool_dir": settings.call_spool_dir / "a"})
    b = settings.model_copy(update={"call_spool_dir": settings.call_spool_dir / "b"})
    receive_call(database, a, "twilio", InboundCall("CA1", tracker.number, CALLER))
    receive_status(b, StatusUpdate("CA1", "completed", duration=30, dialed=True))
    receive_status(b, StatusUpdate("CA-never", "completed", duration=5, dialed=True))

    assert replay_spool(database, b) == 0
    assert spooled(b) == 2  # both wait: their calls may be in another process's spool
    assert replay_spool(database, a) == 1
    clock.advance(hours=23)
    assert replay_spool(database, b) == 1
    [call] = calls_in(database)
    assert (call.provider_call_id, call.status, call.duration) == ("CA1", "completed", 30)
    assert spooled(b) == 1  # CA-never still waits…

    clock.advance(hours=1, seconds=1)
    assert replay_spool(database, b) == 1  # …until a day has passed: its call is not coming
    assert spooled(b) == 0
    assert len(calls_in(database)) == 1


def test_an_unreadable_spool_entry_is_set_aside_and_the_rest_replayed(
    settings: Settings,
    database: Database,
    factory: Factory,
    site: Site,
    tmp_path: Path,
) -> None:
    tracker = factory.tracker(factory.pool(site))
    down, app = app_without_database(settings, database, tmp_path)
    with app as client:
        post_webhook(client, down, VOICE, voice_params(tracker.number), settle=False)
    (settings.call_spool_dir / "00000000000000000001-call-CAbad.json").write_text("{not json")

    assert replay_spool(database, settings) == 1

    assert len(calls_in(database)) == 1
    assert spooled(settings) == 0
    failed = settings.call_spool_dir / "failed"
    assert (failed / "00000000000000000001-call-CAbad.json").exists()


@contextmanager
def locked(database: Database, table: str) -> Iterator[None]:
    """Another connection holds ``table`` (on SQLite: the write lock): the queries that need it
    wait, as on a stuck database, until it lets go."""
    with database.engine.connect() as other:
        if database.is_sqlite:
            other.exec_driver_sql("SELECT 1")  # opens with BEGIN IMMEDIATE: the write lock
        else:
            other.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            other.rollback()


def test_a_locked_database_does_not_hold_up_the_call_which_is_stored_after(
    client: TestClient, settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    refresh_routing(database, settings)  # as any process does every minute
    with locked(database, "calls"):
        answer = post_webhook(client, settings, VOICE, voice_params(tracker.number), settle=False)
        assert f"{BUSINESS}</Number>" in answer.text
        retried = post_webhook(client, settings, VOICE, voice_params(tracker.number), settle=False)
        assert retried.text == answer.text
        # Not stored yet: the database cannot take them. (At least: an entry being moved
        # from the journal to its file counts twice for a moment.)
        assert spooled(settings) >= 2
    settled(settings)

    assert [call.provider_call_id for call in calls_in(database)] == ["CA1"]


def test_a_number_missing_from_the_table_asks_a_stuck_database_only_until_the_deadline(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite's readers never wait for a lock (WAL)")
    impatient = settings.model_copy(update={"webhook_db_deadline_seconds": 0.5})
    with TestClient(create_app(impatient, database)) as client:
        tracker = factory.tracker(factory.pool(site))  # bought after this process's refresh
        with locked(database, "trackers"):
            stuck = post_webhook(client, impatient, VOICE, voice_params(tracker.number))
        found = post_webhook(client, impatient, VOICE, voice_params(tracker.number, call_id="CA2"))

    assert "<Dial" not in stuck.text
    assert "<Say" in stuck.text
    assert f"{BUSINESS}</Number>" in found.text
    assert [call.provider_call_id for call in calls_in(database)] == ["CA2"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from callpool.calls import spool
journal = spool.Journal(Path(sys.argv[1]))  # its publishing thread never starts
at = "2026-01-05T12:00:00+00:00"
call = {"provider": "twilio", "to": sys.argv[2], "from": "+14155550123", "at": at}
journal.write(spool.CALL, "CAkilled", {**call, "forward_to": "+15125550000"})
status = {"at": at, "status": "completed", "duration": 12, "recording_url": None,
          "sequence": None, "dialed": True}
journal.write(spool.STATUS, "CAkilled", status)
print("written", flush=True)
time.sleep(60)
"""


def test_calls_in_the_journal_of_a_killed_process_are_stored_by_the_next_start(
    settings: Settings, database: Database, factory: Factory, site: Site
) -> None:
    tracker = factory.tracker(factory.pool(site))
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(settings.call_spool_dir), tracker.number],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"  # synced: the calls were answered
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert spooled(settings) == 2
    assert replay_spool(database, settings) == 0  # only the journal holds them

    with TestClient(create_app(settings, database)):
        settled(settings)

    [call] = calls_in(database)
    assert (call.provider_call_id, call.status, call.duration) == ("CAkilled", "completed", 12)
    assert list(settings.call_spool_dir.glob("*.slots")) == []
