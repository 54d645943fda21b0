"""Re-pointing numbers after the public URL changed: `callpool numbers repoint` and the start,
against the fake of Twilio's HTTP API (it records what each number was told)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Account, Tracker
from callpool.pools.schemas import PoolCreate
from callpool.pools.service import Deps, create_pool, release
from callpool.settings import Settings
from callpool.sites.schemas import SiteCreate
from callpool.sites.service import create_site
from callpool.telephony.repoint import (
    remembered_public_url,
    repoint_if_moved,
    repoint_in_background,
)
from callpool.telephony.twilio.provider import TwilioProvider
from tests.telephony.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

OLD = "https://old.callpool.test"
NEW = "https://calls.example.test"


@pytest.fixture
def twilio(fake_twilio: FakeTwilio) -> TwilioProvider:
    return TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=fake_twilio.url)


@pytest.fixture
def numbers(
    database: Database, settings: Settings, account: Account, twilio: TwilioProvider
) -> dict[str, str]:
    """Three numbers bought while callpool was at OLD, one of them since released:
    {provider sid: status}."""
    deps = Deps(database, twilio, settings.model_copy(update={"public_url": OLD}))
    site = create_site(database, account.id, SiteCreate(name="Acme"))
    data = PoolCreate(site_id=site.id, name="Web", original_number="+15125550123", size=3)
    pool = create_pool(deps, account.id, data)
    with database.reader() as db:
        trackers = db.execute(
            select(Tracker.id, Tracker.provider_sid)
            .where(Tracker.pool_id == pool.id)
            .order_by(Tracker.id)
        ).all()
    release(deps, account.id, pool.id, trackers[0].id)
    return {str(sid): "released" if id_ == trackers[0].id else "live" for id_, sid in trackers}


def voice_urls(fake: FakeTwilio, sids: dict[str, str]) -> dict[str, str]:
    """Where each number still held at the fake calls, by status in callpool."""
    return {sids[sid]: record["VoiceUrl"] for sid, record in fake.owned.items()}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    own = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    return subprocess.run(
        [sys.executable, "-m", "callpool", *args],
        env={**own, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_env(settings: Settings, fake: FakeTwilio) -> dict[str, str]:
    return {
        "CALLPOOL_DATABASE_URL": settings.database_url,
        "CALLPOOL_PUBLIC_URL": NEW,
        "CALLPOOL_SECRET_KEY": settings.secret_key,
        "CALLPOOL_TELEPHONY_PROVIDER": "twilio",
        "CALLPOOL_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CALLPOOL_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLPOOL_TWILIO_API_BASE_URL": fake.url,
    }


def test_the_command_points_every_live_number_at_the_public_url(
    database: Database, settings: Settings, fake_twilio: FakeTwilio, numbers: dict[str, str]
) -> None:
    assert set(voice_urls(fake_twilio, numbers).values()) == {f"{OLD}/webhooks/twilio/voice"}
    before = len(fake_twilio.requests)

    done = run_cli("numbers", "repoint", env=cli_env(settings, fake_twilio))

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"2 numbers now call {NEW}\n"
    for sid, record in fake_twilio.owned.items():
        assert (record["VoiceUrl"], record["StatusCallback"]) == (
            f"{NEW}/webhooks/twilio/voice",
            f"{NEW}/webhooks/twilio/status",
        ), numbers[sid]
    # One update per live number; the released one was not asked about.
    asked = sorted(seen.path.rsplit("/", 1)[-1] for seen in fake_twilio.requests[before:])
    assert asked == sorted(f"{sid}.json" for sid, status in numbers.items() if status == "live")
    assert remembered_public_url(database) == NEW  # the next start has nothing to do


def test_the_command_says_which_numbers_the_carrier_refused_and_exits_nonzero(
    database: Database, settings: Settings, fake_twilio: FakeTwilio, numbers: dict[str, str]
) -> None:
    fake_twilio.fail_next(503, 20500, "Service unavailable")

    done = run_cli("numbers", "repoint", env=cli_env(settings, fake_twilio))

    assert done.returncode == 1
    assert done.stdout == f"1 numbers now call {NEW}\n"
    assert "not re-pointed: +1512" in done.stderr
    assert "Twilio is having trouble (HTTP 503)" in done.stderr
    assert remembered_public_url(database) is None  # run it again, or the next start does


def test_a_start_at_a_new_public_url_repoints_in_the_background_once(
    database: Database, fake_twilio: FakeTwilio, twilio: TwilioProvider, numbers: dict[str, str]
) -> None:
    started = repoint_in_background(database, twilio, NEW)
    started.join(timeout=30)

    assert not started.is_alive()
    assert set(voice_urls(fake_twilio, numbers).values()) == {f"{NEW}/webhooks/twilio/voice"}
    assert remembered_public_url(database) == NEW
    asked = len(fake_twilio.requests)
    # The next start at the same URL asks the carrier nothing.
    assert repoint_if_moved(database, twilio, NEW) is None
    assert len(fake_twilio.requests) == asked
    # Moving again re-points again.
    moved = repoint_if_moved(database, twilio, OLD)
    assert moved is not None
    assert (moved.numbers, moved.failed) == (2, [])
    assert set(voice_urls(fake_twilio, numbers).values()) == {f"{OLD}/webhooks/twilio/voice"}


def test_a_start_the_carrier_fails_tries_again_at_the_next_start(
    database: Database, fake_twilio: FakeTwilio, twilio: TwilioProvider, numbers: dict[str, str]
) -> None:
    assert repoint_if_moved(database, twilio, OLD) is not None  # the install's first start
    fake_twilio.fail_next(429, 20429, "Too many requests")

    failed = repoint_if_moved(database, twilio, NEW)

    assert failed is not None
    assert failed.numbers == 1
    assert len(failed.failed) == 1
    assert remembered_public_url(database) == OLD  # given back: not every number follows NEW
    again = repoint_if_moved(database, twilio, NEW)
    assert again is not None
    assert (again.numbers, again.failed) == (2, [])
    assert set(voice_urls(fake_twilio, numbers).values()) == {f"{NEW}/webhooks/twilio/voice"}
