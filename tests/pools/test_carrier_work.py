"""Carrier work outside transactions (issue 10, items 2, 6, 7), on both engines.

A slow carrier blocks nobody else; a failing one leaves nothing half-done that the worker
does not finish; a crash between buying and recording leaks no number; deleting keeps history.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool import worker
from callpool.app import create_app
from callpool.calls.routing import refresh_routing
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Call, Pool, Site, Tracker
from callpool.pools.provisioning import CLAIM_TIMEOUT, finish_carrier_work
from callpool.pools.rebalance import rebalance_due_pools
from callpool.settings import Settings
from callpool.telephony.base import PurchasedNumber
from callpool.telephony.sandbox.book import FileBook
from callpool.telephony.sandbox.provider import SandboxProvider
from callpool.telephony.sandbox.simulate import voice_request
from tests.pools.conftest import BUSINESS, session_pool
from tests.waiting import wait_for

API = "/api/v1/pools"
DEADLINE = 30.0  # seconds a condition may take before the test fails


class Script(random.Random):
    """The sandbox's random source, failing exactly the calls (1-based) it is told to."""

    def __init__(self) -> None:
        super().__init__(0)
        self.failing: set[int] = set()
        self.calls = 0

    def fail_next(self, *offsets: int) -> None:
        self.failing |= {self.calls + offset for offset in offsets}

    def random(self) -> float:
        self.calls += 1
        return 0.0 if self.calls in self.failing else 0.99


class Carrier(SandboxProvider):
    """The sandbox with its own failure script, counting releases, and a gate that can hold
    a purchase or a release in the carrier (as a slow carrier would) until the test opens it."""

    def __init__(self, signing_key: str, book: FileBook | None = None) -> None:
        self.script = Script()
        super().__init__(signing_key, failure_rate=0.5, rng=self.script, book=book)
        self.releases: list[str] = []
        self.gate_buys = threading.Event()
        self.gate_releases = threading.Event()
        self.gate_buys.set()
        self.gate_releases.set()
        self.in_carrier = threading.Event()
        self.entered = 0  # releases that reached the carrier

    def buy_number(self, number: str, *, voice_url: str, status_url: str) -> PurchasedNumber:
        self.in_carrier.set()
        assert self.gate_buys.wait(DEADLINE)
        return super().buy_number(number, voice_url=voice_url, status_url=status_url)

    def release_number(self, provider_sid: str) -> None:
        self.entered += 1
        self.in_carrier.set()
        assert self.gate_releases.wait(DEADLINE)
        super().release_number(provider_sid)
        self.releases.append(provider_sid)

    def owned(self) -> set[str]:
        return set(self.book.owned())


@pytest.fixture
def carrier(settings: Settings) -> Carrier:
    return Carrier(settings.secret_key)


@pytest.fixture
def app(settings: Settings, database: Database, clock: FrozenClock, carrier: Carrier) -> FastAPI:
    return create_app(settings, database, carrier)


def trackers(database: Database, pool_id: int) -> dict[str, str]:
    """number → status of every tracker row of the pool."""
    with database.reader() as db:
        query = select(Tracker.number, Tracker.status).where(Tracker.pool_id == pool_id)
        return {row.number: row.status for row in db.execute(query)}


def in_service(database: Database, pool_id: int) -> set[str]:
    live = ("active", "available", "flagged")
    return {n for n, status in trackers(database, pool_id).items() if status in live}


def worker_pass(database: Database, carrier: Carrier, settings: Settings) -> int:
    return finish_carrier_work(database, carrier, public_url=settings.public_url)


@dataclass(frozen=True)
class World:
    """An operator's API client on one site, the carrier, and the worker."""

    client: TestClient
    auth: dict[str, str]
    site: Site
    carrier: Carrier
    database: Database
    settings: Settings

    def trackers(self, pool_id: int) -> dict[str, str]:
        return trackers(self.database, pool_id)

    def in_service(self, pool_id: int) -> set[str]:
        return in_service(self.database, pool_id)

    def worker_pass(self) -> int:
        return worker_pass(self.database, self.carrier, self.settings)


@pytest.fixture
def w(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    carrier: Carrier,
    database: Database,
    settings: Settings,
) -> World:
    return World(client, auth, site, carrier, database, settings)


# -- a failing carrier during create, add, release, delete ------------------------------------


def test_a_purchase_failing_half_way_gives_back_what_was_bought_and_keeps_nothing(w: World) -> None:
    w.carrier.script.fail_next(3)  # search, buy, buy (fails): one number bought before
    response = w.client.post(API, json=session_pool(w.site), headers=w.auth)

    assert response.status_code == 502
    assert "simulated" in response.json()["detail"]
    assert w.client.get(API, headers=w.auth).json() == []
    assert w.carrier.owned() == set()  # nothing left paid for
    assert len(w.carrier.releases) == 1
    with w.database.reader() as db:
        assert db.scalars(select(Tracker)).all() == []


def test_adding_numbers_with_a_failing_carrier_changes_nothing_and_then_succeeds(w: World) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=1), headers=w.auth).json()
    w.carrier.script.fail_next(2)  # search, buy (fails)
    failed = w.client.post(f"{API}/{pool['id']}/trackers", json={"count": 2}, headers=w.auth)
    assert failed.status_code == 502
    assert w.client.get(f"{API}/{pool['id']}", headers=w.auth).json()["size"] == 1
    assert len(w.carrier.owned()) == 1

    added = w.client.post(f"{API}/{pool['id']}/trackers", json={"count": 2}, headers=w.auth)
    assert added.status_code == 201, added.text
    after = w.client.get(f"{API}/{pool['id']}", headers=w.auth).json()
    assert after["size"] == 3
    assert after["trackers"]["active"] == 3
    assert w.carrier.owned() == w.in_service(pool["id"])


def test_a_failed_release_is_out_of_service_at_once_and_retried_by_the_worker(w: World) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=2), headers=w.auth).json()
    [first, second] = w.client.get(f"{API}/{pool['id']}/trackers", headers=w.auth).json()
    w.carrier.script.fail_next(1)
    released = w.client.post(f"{API}/{pool['id']}/trackers/{first['id']}/release", headers=w.auth)

    assert released.status_code == 200
    assert released.json()["status"] == "releasing"
    assert "simulated" in released.json()["last_error"]
    counts = w.client.get(f"{API}/{pool['id']}", headers=w.auth).json()["trackers"]
    assert (counts["active"], counts["releasing"]) == (1, 1)
    table = refresh_routing(w.database, w.settings)
    assert table.lookup(first["number"]) is None  # no longer routed
    assert table.lookup(second["number"]) is not None
    assert first["number"] in w.carrier.owned()

    w.carrier.script.fail_next(1)  # the worker's first try fails too
    assert w.worker_pass() == 0
    assert w.worker_pass() == 1
    assert w.trackers(pool["id"])[first["number"]] == "released"
    assert w.carrier.owned() == {second["number"]}
    assert w.worker_pass() == 0  # nothing left to do


def test_deleting_a_pool_with_a_failing_carrier_releases_everything_eventually(w: World) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=3), headers=w.auth).json()
    numbers = w.in_service(pool["id"])
    w.carrier.script.fail_next(2)  # the second release fails
    assert w.client.delete(f"{API}/{pool['id']}", headers=w.auth).status_code == 204

    assert w.client.get(API, headers=w.auth).json() == []
    statuses = sorted(w.trackers(pool["id"]).values())
    assert statuses == ["released", "released", "releasing"]
    table = refresh_routing(w.database, w.settings)
    assert all(table.lookup(number) is None for number in numbers)

    assert w.worker_pass() == 1
    assert set(w.trackers(pool["id"]).values()) == {"released"}
    assert w.carrier.owned() == set()


def test_the_worker_fills_an_automated_pool_through_a_flaky_carrier(
    w: World, clock: FrozenClock
) -> None:
    body = session_pool(w.site, kind="automated", size=2, utilization=0.5)
    pool = w.client.post(API, json=body, headers=w.auth).json()
    with w.database.session() as db:
        db.get_one(Pool, pool["id"]).size = 4  # as a size change the carrier failed to follow
    clock.advance(minutes=5)
    w.carrier.script.fail_next(3)  # search, buy, buy (fails): the carrier goes down

    assert rebalance_due_pools(w.database, w.carrier, public_url=w.settings.public_url) == 1
    statuses = sorted(w.trackers(pool["id"]).values())
    assert statuses == ["available", "available", "available", "provisioning"]
    assert len(w.carrier.owned()) == 3

    assert w.worker_pass() == 1  # the next pass buys the reserved number
    assert sorted(w.trackers(pool["id"]).values()) == ["available"] * 4
    assert w.carrier.owned() == w.in_service(pool["id"])


def test_the_worker_loop_retries_releases(w: World) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=2), headers=w.auth).json()
    w.carrier.script.fail_next(1, 2)
    w.client.delete(f"{API}/{pool['id']}", headers=w.auth)
    assert w.carrier.owned() != set()

    worker.run_once(w.database, w.settings, w.carrier)

    assert set(w.trackers(pool["id"]).values()) == {"released"}
    assert w.carrier.owned() == set()


# -- a slow carrier holds up nobody ------------------------------------------------------------


def test_a_slow_purchase_holds_no_lock_health_calls_and_writes_go_on(w: World) -> None:
    old = session_pool(w.site, size=1, name="Old", priority=10)
    existing = w.client.post(API, json=old, headers=w.auth).json()
    [known] = w.in_service(existing["id"])
    refresh_routing(w.database, w.settings)
    w.carrier.gate_buys.clear()  # the carrier now takes as long as the test wants
    w.carrier.in_carrier.clear()
    answers: list[int] = []
    buyer = threading.Thread(
        target=lambda: answers.append(
            w.client.post(API, json=session_pool(w.site, size=2), headers=w.auth).status_code
        )
    )
    buyer.start()
    try:
        assert w.carrier.in_carrier.wait(DEADLINE)  # a purchase is in the carrier now
        assert w.client.get("/healthz").status_code == 200
        call = voice_request(w.settings, to_number=known, from_number="+15125550777")
        answer = w.client.post(call.path, data=call.data, headers=call.headers)
        assert answer.status_code == 200
        assert f">{BUSINESS}</Number>" in answer.text  # forwarded to the business
        # A visitor gets a number in service, never one being bought.
        seen = w.client.post(
            "/t/visit",
            content=json.dumps({"k": w.site.public_key, "u": "https://acme.example/"}),
            headers={"Origin": "https://acme.example", "Content-Type": "text/plain"},
        )
        assert seen.status_code == 200, seen.text
        assert [n["number"] for n in seen.json()["numbers"]] == [known]
        # The database takes writes meanwhile (on SQLite: nobody holds the write lock).
        other = w.client.post("/api/v1/sites", json={"name": "Other"}, headers=w.auth)
        assert other.status_code == 201
        progress = [p for p in w.client.get(API, headers=w.auth).json() if p["name"] == "Website"]
        assert progress[0]["trackers"]["provisioning"] == 2  # the operator sees the purchase
        assert answers == []
    finally:
        w.carrier.gate_buys.set()
        buyer.join(DEADLINE)
    assert answers == [201]


# -- several workers ---------------------------------------------------------------------------


def test_two_workers_release_each_number_once(w: World) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=2), headers=w.auth).json()
    w.carrier.script.fail_next(1, 2)  # both releases of the deletion fail: the worker's job now
    w.client.delete(f"{API}/{pool['id']}", headers=w.auth)
    assert sorted(w.trackers(pool["id"]).values()) == ["releasing", "releasing"]

    w.carrier.gate_releases.clear()
    w.carrier.in_carrier.clear()
    w.carrier.entered = 0
    settled: list[int] = []
    workers = [threading.Thread(target=lambda: settled.append(w.worker_pass())) for _ in range(2)]
    workers[0].start()
    try:
        assert w.carrier.in_carrier.wait(DEADLINE)  # the first worker holds a claim, in the carrier
        workers[1].start()  # the second claims what is left, or nothing
        wait_for(
            lambda: w.carrier.entered == 2 or not workers[1].is_alive(),
            "the second worker",
            DEADLINE,
        )
    finally:
        w.carrier.gate_releases.set()
        for worker in workers:
            worker.join(DEADLINE)
    assert sum(settled) == 2
    assert len(w.carrier.releases) == len(set(w.carrier.releases)) == 2  # each number once
    assert w.carrier.owned() == set()
    assert set(w.trackers(pool["id"]).values()) == {"released"}


def test_a_dead_workers_claim_is_taken_over_after_the_timeout(w: World, clock: FrozenClock) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=1), headers=w.auth).json()
    with w.database.session() as db:  # a process marked it and died before the carrier call
        tracker = db.scalars(select(Tracker).where(Tracker.pool_id == pool["id"])).one()
        tracker.status, tracker.claimed_by, tracker.claimed_at = "releasing", "dead", clock.now()

    assert w.worker_pass() == 0  # a fresh claim is respected
    clock.advance(seconds=CLAIM_TIMEOUT.total_seconds() + 1)
    assert w.worker_pass() == 1
    assert w.carrier.owned() == set()


# -- deleting a site ---------------------------------------------------------------------------


def test_deleting_a_site_releases_its_numbers_and_keeps_its_calls(
    w: World, account: Account, clock: FrozenClock
) -> None:
    pool = w.client.post(API, json=session_pool(w.site, size=3), headers=w.auth).json()
    numbers = w.in_service(pool["id"])
    with w.database.session() as db:
        tracker = db.scalars(select(Tracker).where(Tracker.pool_id == pool["id"])).first()
        assert tracker is not None
        db.add(
            Call(
                provider="sandbox",
                provider_call_id="CA-before-delete",
                account_id=account.id,
                tracker_id=tracker.id,
                pool_id=pool["id"],
                from_number="+15125550777",
                to_number=tracker.number,
                started_at=clock.now(),
                status="completed",
            )
        )

    assert w.client.delete(f"/api/v1/sites/{w.site.id}", headers=w.auth).status_code == 204

    assert w.client.get("/api/v1/sites", headers=w.auth).json() == []
    assert w.client.get(f"/api/v1/sites/{w.site.id}", headers=w.auth).status_code == 404
    assert w.client.get(API, headers=w.auth).json() == []
    assert w.carrier.owned() == set()  # 3 bought, 3 released
    assert len(w.carrier.releases) == 3
    table = refresh_routing(w.database, w.settings)
    assert all(table.lookup(number) is None for number in numbers)
    calls = w.client.get("/api/v1/calls", headers=w.auth).json()["calls"]
    assert [c["provider_call_id"] for c in calls] == ["CA-before-delete"]
    with w.database.reader() as db:
        stored_pool = db.get_one(Pool, pool["id"])
        assert stored_pool.deleted_at is not None
        assert db.get_one(Site, w.site.id).deleted_at is not None
    # A new pool on a deleted site is refused.
    refused = w.client.post(API, json=session_pool(w.site), headers=w.auth)
    assert refused.status_code == 422


# -- a crash (kill -9) between buying and recording --------------------------------------------

BUYER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from callpool.db import Database
    from callpool.pools import service
    from callpool.pools.schemas import PoolCreate
    from callpool.settings import Settings
    from callpool.telephony.sandbox.book import FileBook
    from callpool.telephony.sandbox.provider import SandboxProvider

    url, account_id, site_id, book = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    settings = Settings(database_url=url, public_url="https://callpool.test", _env_file=None)
    carrier = SandboxProvider(settings.secret_key, latency_ms=300, book=FileBook(Path(book)))
    deps = service.Deps(Database(url), carrier, settings)
    service.create_pool(deps, account_id, PoolCreate(
        site_id=site_id, name="Crashed", kind="session", original_number="+15125550199",
        area_code="512", size=4))
    """
)


def test_a_buyer_killed_between_buying_and_recording_leaks_nothing_and_loses_nothing(
    database_url: str,
    database: Database,
    site: Site,
    account: Account,
    settings: Settings,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    book = tmp_path / "sandbox-numbers.json"
    buyer = subprocess.Popen(
        [sys.executable, "-c", BUYER, database_url, str(account.id), str(site.id), str(book)],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )
    try:
        # Killed once a number is bought (its sid recorded) while others are still to buy.
        def bought_not_recorded() -> bool:
            with database.reader() as db:
                rows = db.execute(select(Tracker.status, Tracker.provider_sid)).all()
            return any(status == "provisioning" and sid for status, sid in rows) and any(
                status == "provisioning" and not sid for status, sid in rows
            )

        wait_for(bought_not_recorded, "the buyer to be half-way", DEADLINE)
    finally:
        buyer.send_signal(signal.SIGKILL)
        buyer.wait(DEADLINE)
    with database.reader() as db:
        pool = db.scalars(select(Pool).where(Pool.name == "Crashed")).one()
    assert set(trackers(database, pool.id).values()) == {"provisioning"}
    carrier = Carrier(settings.secret_key, book=FileBook(book))
    # The dead buyer's claims are respected until they time out (the buyer used the real clock).
    clock.set(datetime.now(UTC) + CLAIM_TIMEOUT + timedelta(seconds=1))

    assert worker_pass(database, carrier, settings) == 4

    assert set(trackers(database, pool.id).values()) == {"active"}
    assert carrier.owned() == in_service(database, pool.id)  # none leaked, none lost
    assert len(carrier.owned()) == 4
