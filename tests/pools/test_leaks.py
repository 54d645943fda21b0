"""Leaked session-pool numbers (issue 15, item 4), on both engines, through the REST API, the
visit API, signed carrier webhooks and the worker: retire (after a quiet period) or move into
a manual pool as a fixed source; either way the session pool buys a replacement."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from callpool import worker
from callpool.app import create_app
from callpool.calls.routing import routing_table
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Call, Site, Tracker
from callpool.pools.provisioning import carrier_job
from callpool.settings import Settings
from tests.calls.conftest import post_webhook, voice_params
from tests.factories import Factory
from tests.pools.conftest import BUSINESS, session_pool
from tests.pools.test_carrier_work import DEADLINE, Carrier

API = "/api/v1/pools"
ORIGIN = "https://acme.example"


@pytest.fixture
def carrier(settings: Settings) -> Carrier:
    return Carrier(settings.secret_key)


@pytest.fixture
def app(settings: Settings, database: Database, clock: FrozenClock, carrier: Carrier) -> FastAPI:
    return create_app(settings, database, carrier)


@dataclass
class Operator:
    """An operator's API client on one site, the visitors' and the carrier's side of it, and
    the worker."""

    client: TestClient
    auth: dict[str, str]
    site: Site
    settings: Settings
    database: Database
    carrier: Carrier
    clock: FrozenClock

    def pool(self, size: int = 2, **fields: Any) -> dict[str, Any]:
        response = self.client.post(
            API, json=session_pool(self.site, size=size, **fields), headers=self.auth
        )
        assert response.status_code == 201, response.text
        pool: dict[str, Any] = response.json()
        return pool

    def get_pool(self, pool_id: int) -> dict[str, Any]:
        pool: dict[str, Any] = self.client.get(f"{API}/{pool_id}", headers=self.auth).json()
        return pool

    def numbers(self, pool_id: int, status: str = "active") -> list[str]:
        trackers = self.client.get(f"{API}/{pool_id}/trackers", headers=self.auth).json()
        return [t["number"] for t in trackers if t["status"] == status]

    def tracker(self, number: str) -> dict[str, Any]:
        with self.database.reader() as db:
            row = db.scalars(
                select(Tracker).where(Tracker.number == number).order_by(Tracker.id.desc())
            ).first()
        assert row is not None
        return {"id": row.id, "pool_id": row.pool_id, "status": row.status}

    def act(self, pool_id: int, number: str, action: str, body: Any = None) -> Response:
        tracker_id = self.tracker(number)["id"]
        path = f"{API}/{pool_id}/trackers/{tracker_id}/{action}"
        return self.client.post(path, json=body, headers=self.auth)

    def visit(self, url: str = f"{ORIGIN}/") -> str | None:
        """A new visitor's first pageview and heartbeat; the number shown, if any."""
        headers = {"Origin": ORIGIN, "Content-Type": "text/plain"}
        answer = self.client.post(
            "/t/visit", content=json.dumps({"k": self.site.public_key, "u": url}), headers=headers
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        heartbeat = json.dumps({"k": self.site.public_key, "s": body["s"]})
        assert self.client.post("/t/heartbeat", content=heartbeat, headers=headers).is_success
        return body["numbers"][0]["number"] if body["numbers"] else None

    def ring(self, number: str, call_id: str, caller: str = "+14155550123") -> Response:
        """A signed Twilio voice webhook for a call to ``number``, once the call is stored."""
        params = voice_params(number, call_id=call_id, caller=caller)
        return post_webhook(self.client, self.settings, "/webhooks/twilio/voice", params)

    def call(self, call_id: str) -> Call:
        with self.database.reader() as db:
            return db.scalars(select(Call).where(Call.provider_call_id == call_id)).one()

    def health(self, pool_id: int) -> dict[str, Any]:
        health: dict[str, Any] = self.client.get(
            f"/api/v1/reports/pools/{pool_id}", headers=self.auth
        ).json()
        return health

    def release_quiet(self) -> int:
        """The worker's job, as the worker runs it."""
        [job] = [job for name, job in worker.jobs() if name == "release quiet retired numbers"]
        released = job(self.database, self.settings, self.carrier)
        assert isinstance(released, int)
        return released


@pytest.fixture
def op(
    client: TestClient,
    auth: dict[str, str],
    site: Site,
    settings: Settings,
    database: Database,
    carrier: Carrier,
    clock: FrozenClock,
) -> Operator:
    return Operator(client, auth, site, settings, database, carrier, clock)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# -- retire ------------------------------------------------------------------------------------


def test_a_retired_number_is_never_shown_again_still_forwarded_and_replaced(
    op: Operator,
) -> None:
    pool = op.pool(size=2)
    leaked, kept = op.numbers(pool["id"])

    answer = op.act(pool["id"], leaked, "retire", {"quiet_days": 10})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tracker"]["status"] == "retiring"
    assert body["tracker"]["quiet_days"] == 10
    assert body["tracker"]["retired_at"] == iso(op.clock.now())
    replacement = body["replacement"]
    assert replacement["status"] == "active"
    assert replacement["pool_id"] == pool["id"]
    assert replacement["number"].startswith("+1512")  # the pool's area code
    assert replacement["number"] in op.carrier.owned()
    counts = op.get_pool(pool["id"])
    assert counts["size"] == 2
    assert counts["trackers"] | {} == {
        "available": 0,
        "active": 2,
        "flagged": 0,
        "provisioning": 0,
        "releasing": 0,
        "retiring": 1,
    }

    # New visitors get the two numbers in service, never the retired one.
    shown = {op.visit(), op.visit()}
    assert shown == {kept, replacement["number"]}

    # Its printed callers still reach the business; the call is recorded, with no visit.
    forwarded = op.ring(leaked, "CA-retired")
    assert forwarded.status_code == 200
    assert "<Dial" in forwarded.text
    assert f">{BUSINESS}</Number>" in forwarded.text
    call = op.call("CA-retired")
    assert call.tracker_id == body["tracker"]["id"]
    assert call.session_id is None

    health = op.health(pool["id"])
    assert health["trackers_by_status"]["retiring"] == 1
    assert health["retiring_numbers"] == [
        {
            "tracker_id": body["tracker"]["id"],
            "number": leaked,
            "retired_at": iso(op.clock.now()),
            "quiet_days": 10,
            "last_call_at": iso(call.started_at),
            "release_after": iso(call.started_at + timedelta(days=10)),
        }
    ]


def test_a_visitor_shown_the_number_before_it_was_retired_keeps_their_call(
    op: Operator,
) -> None:
    pool = op.pool(size=1)
    shown = op.visit(f"{ORIGIN}/?utm_source=google&utm_medium=cpc")
    assert shown is not None
    assert op.act(pool["id"], shown, "retire").status_code == 200

    op.clock.advance(minutes=5)
    op.ring(shown, "CA-visitor")

    call = op.call("CA-visitor")
    assert (call.source, call.medium) == ("google", "cpc")
    assert call.session_id is not None


def test_the_worker_releases_a_retired_number_after_its_quiet_period(op: Operator) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    retired = op.act(pool["id"], leaked, "retire", {"quiet_days": 10}).json()["tracker"]

    op.clock.advance(days=9)
    assert op.release_quiet() == 0
    op.ring(leaked, "CA-day-9")  # a call during the quiet period starts it again

    op.clock.advance(days=2)  # 11 days after the retirement, 2 after the call
    assert op.release_quiet() == 0
    assert op.tracker(leaked)["status"] == "retiring"
    assert routing_table(op.settings).lookup(leaked) is not None

    op.clock.advance(days=8, seconds=1)  # 10 days and a second after the call
    assert op.release_quiet() == 1

    assert op.tracker(leaked)["status"] == "released"
    assert leaked not in op.carrier.owned()
    assert routing_table(op.settings).lookup(leaked) is None
    assert op.release_quiet() == 0  # idempotent: nothing left to take
    counts = op.get_pool(pool["id"])
    assert (counts["size"], counts["trackers"]["active"], counts["trackers"]["retiring"]) == (
        1,
        1,
        0,
    )
    assert op.health(pool["id"])["retiring_numbers"] == []
    # Its history stays: the tracker row and its call.
    assert op.call("CA-day-9").tracker_id == retired["id"]


def test_two_workers_release_a_quiet_number_once(op: Operator) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.act(pool["id"], leaked, "retire", {"quiet_days": 1})
    op.clock.advance(days=1, seconds=1)

    op.carrier.gate_releases.clear()  # the first worker is held in the carrier
    op.carrier.in_carrier.clear()
    taken: list[int] = []
    first = threading.Thread(target=lambda: taken.append(op.release_quiet()))
    first.start()
    try:
        assert op.carrier.in_carrier.wait(DEADLINE)
        taken.append(op.release_quiet())  # the second finds the number claimed
    finally:
        op.carrier.gate_releases.set()
        first.join(DEADLINE)
    assert sorted(taken) == [0, 1]
    assert len(op.carrier.releases) == 1
    assert op.tracker(leaked)["status"] == "released"


def test_a_failed_release_after_the_quiet_period_is_retried_by_the_carrier_job(
    op: Operator,
) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.act(pool["id"], leaked, "retire", {"quiet_days": 1})
    op.clock.advance(days=2)
    op.carrier.script.fail_next(1)  # the release

    assert op.release_quiet() == 1
    assert op.tracker(leaked)["status"] == "releasing"  # out of service, to be retried
    assert routing_table(op.settings).lookup(leaked) is None

    assert carrier_job(op.database, op.settings, op.carrier) == 1
    assert op.tracker(leaked)["status"] == "released"
    assert leaked not in op.carrier.owned()


def test_cancelling_a_retirement_puts_the_number_back_and_keeps_the_replacement(
    op: Operator,
) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.act(pool["id"], leaked, "retire")

    answer = op.act(pool["id"], leaked, "cancel-retirement")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "active"
    assert answer.json()["retired_at"] is None
    counts = op.get_pool(pool["id"])
    assert (counts["size"], counts["trackers"]["active"], counts["trackers"]["retiring"]) == (
        2,
        2,
        0,
    )
    assert leaked in {op.visit(), op.visit()}  # handed to visitors again
    op.clock.advance(days=60)
    assert op.release_quiet() == 0
    again = op.act(pool["id"], leaked, "cancel-retirement")
    assert again.status_code == 409
    assert "is not retiring" in again.json()["detail"]


# -- move to a manual pool ---------------------------------------------------------------------


def test_a_number_moved_into_a_new_manual_pool_credits_its_later_calls_to_the_typed_source(
    op: Operator,
) -> None:
    pool = op.pool(size=1)
    leaked = op.visit(f"{ORIGIN}/?utm_source=google&utm_medium=cpc")
    assert leaked is not None
    op.ring(leaked, "CA-before")
    op.clock.advance(hours=1)

    answer = op.act(
        pool["id"], leaked, "move-to-manual", {"source": "yellow-pages", "medium": "print"}
    )

    assert answer.status_code == 200, answer.text
    moved, replacement = answer.json()["tracker"], answer.json()["replacement"]
    assert moved["number"] == leaked
    assert (moved["status"], moved["source"], moved["medium"]) == (
        "active",
        "yellow-pages",
        "print",
    )
    offline = op.get_pool(moved["pool_id"])
    assert (offline["kind"], offline["name"], offline["site_id"]) == (
        "manual",
        "Offline",
        op.site.id,
    )
    assert offline["size"] == 1
    assert offline["trackers"]["active"] == 1
    assert replacement["pool_id"] == pool["id"]
    assert replacement["status"] == "active"
    assert op.numbers(pool["id"]) == [replacement["number"]]
    assert op.get_pool(pool["id"])["size"] == 1
    assert op.visit() == replacement["number"]

    op.clock.advance(minutes=10)  # the earlier visitor's lease would still cover this
    later = op.ring(leaked, "CA-after", caller="+14155550188")
    assert f">{BUSINESS}</Number>" in later.text
    after = op.call("CA-after")
    assert (after.source, after.medium, after.session_id) == ("yellow-pages", "print", None)
    assert after.pool_id == offline["id"]
    before = op.call("CA-before")
    assert (before.source, before.medium) == ("google", "cpc")
    assert before.session_id is not None
    assert before.pool_id == pool["id"]


def test_a_number_moves_into_an_existing_manual_pool_of_the_site(op: Operator) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    manual = op.pool(size=1, name="Print ads", kind="manual")

    answer = op.act(pool["id"], leaked, "move-to-manual", {"pool_id": manual["id"]})

    assert answer.status_code == 200, answer.text
    assert answer.json()["tracker"]["pool_id"] == manual["id"]
    assert (answer.json()["tracker"]["source"], answer.json()["tracker"]["medium"]) == (
        "offline",
        "print",
    )
    counts = op.get_pool(manual["id"])
    assert (counts["size"], counts["trackers"]["active"], counts["trackers"]["available"]) == (
        2,
        1,
        1,
    )
    # A second number for the same source is refused, as for any manual pool's tracker.
    [second] = op.numbers(pool["id"])
    clash = op.act(pool["id"], second, "move-to-manual", {"pool_id": manual["id"]})
    assert clash.status_code == 409
    assert "offline/print already has the active tracker" in clash.json()["detail"]
    assert op.tracker(second) == {
        "id": op.tracker(second)["id"],
        "pool_id": pool["id"],
        "status": "active",
    }


def test_a_retiring_number_moved_to_a_manual_pool_needs_no_second_replacement(
    op: Operator,
) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.act(pool["id"], leaked, "retire")
    bought = len(op.carrier.owned())
    op.carrier.script.fail_next(1)  # the carrier is down: the move does not need it

    answer = op.act(pool["id"], leaked, "move-to-manual", {})

    assert answer.status_code == 200, answer.text
    assert answer.json()["replacement"] is None
    assert answer.json()["tracker"]["retired_at"] is None
    assert len(op.carrier.owned()) == bought
    op.clock.advance(days=90)
    assert op.release_quiet() == 0  # no longer retiring: the worker leaves it


# -- refusals ----------------------------------------------------------------------------------


def test_wrong_states_are_refused_and_change_nothing(
    op: Operator, factory: Factory, account: Account
) -> None:
    pool = op.pool(size=2)
    first, second = op.numbers(pool["id"])
    manual = op.pool(size=1, name="Manual", kind="manual")
    [manual_number] = op.numbers(manual["id"], "available")
    other_manual = factory.pool(factory.site(account, name="Another site"), kind="manual")
    owned = op.carrier.owned()

    not_session = op.act(manual["id"], manual_number, "retire")
    assert not_session.status_code == 409
    assert "only session-pool numbers" in not_session.json()["detail"]
    wrong_target = op.act(pool["id"], first, "move-to-manual", {"pool_id": pool["id"]})
    assert wrong_target.status_code == 422
    assert wrong_target.json()["field"] == "pool_id"
    assert "manual pools only" in wrong_target.json()["detail"]
    elsewhere = op.act(pool["id"], first, "move-to-manual", {"pool_id": other_manual.id})
    assert elsewhere.status_code == 422
    assert "no pool" in elsewhere.json()["detail"]
    for quiet_days in (0, 366, "soon"):
        bad = op.act(pool["id"], first, "retire", {"quiet_days": quiet_days})
        assert bad.status_code == 422
    assert op.act(pool["id"], first, "move-to-manual", {"source": ""}).status_code == 422
    assert op.act(pool["id"], first, "move-to-manual", {"colour": "red"}).status_code == 422

    op.act(pool["id"], first, "retire")
    twice = op.act(pool["id"], first, "retire")
    assert twice.status_code == 409
    assert "already retiring" in twice.json()["detail"]
    released = op.client.post(
        f"{API}/{pool['id']}/trackers/{op.tracker(second)['id']}/release", headers=op.auth
    )
    assert released.status_code == 200
    gone = op.act(pool["id"], second, "retire")
    assert gone.status_code == 409
    assert "already released" in gone.json()["detail"]
    assert op.act(pool["id"], second, "move-to-manual", {}).status_code == 409

    assert op.tracker(first)["status"] == "retiring"
    assert op.get_pool(manual["id"])["size"] == 1
    assert len(op.carrier.owned() - owned) == 1  # only the one retirement's replacement


def test_another_accounts_numbers_are_not_found(
    op: Operator, outsider_auth: dict[str, str]
) -> None:
    pool = op.pool(size=1)
    [number] = op.numbers(pool["id"])
    tracker_id = op.tracker(number)["id"]
    base = f"{API}/{pool['id']}/trackers/{tracker_id}"

    for action, body in (("retire", {}), ("cancel-retirement", None), ("move-to-manual", {})):
        answer = op.client.post(f"{base}/{action}", json=body, headers=outsider_auth)
        assert answer.status_code == 404, action
    assert op.tracker(number)["status"] == "active"
    # Nor is another account's manual pool a target: it is not "on this pool's site".
    rival = op.client.post("/api/v1/sites", json={"name": "Rival"}, headers=outsider_auth)
    theirs = op.client.post(
        API,
        json=session_pool(op.site, name="Theirs", kind="manual", size=1)
        | {"site_id": rival.json()["id"]},
        headers=outsider_auth,
    )
    assert theirs.status_code == 201, theirs.text
    steal = op.act(pool["id"], number, "move-to-manual", {"pool_id": theirs.json()["id"]})
    assert steal.status_code == 422
    assert op.tracker(number)["pool_id"] == pool["id"]


# -- a slow or failing carrier for the replacement ---------------------------------------------


def test_a_carrier_down_when_searching_changes_nothing(op: Operator) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.carrier.script.fail_next(1)  # the search for a replacement

    answer = op.act(pool["id"], leaked, "retire")

    assert answer.status_code == 502
    assert op.tracker(leaked)["status"] == "active"
    assert op.get_pool(pool["id"])["trackers"]["retiring"] == 0


def test_a_failed_purchase_of_the_replacement_is_finished_by_the_worker(op: Operator) -> None:
    pool = op.pool(size=1)
    [leaked] = op.numbers(pool["id"])
    op.carrier.script.fail_next(2)  # the search works, the purchase fails

    answer = op.act(pool["id"], leaked, "retire")

    assert answer.status_code == 200, answer.text
    replacement = answer.json()["replacement"]
    assert replacement["status"] == "provisioning"
    assert replacement["last_error"]
    assert answer.json()["tracker"]["status"] == "retiring"
    assert op.get_pool(pool["id"])["trackers"]["provisioning"] == 1
    assert op.visit() is None or op.visit() != leaked  # never the retiring number

    assert carrier_job(op.database, op.settings, op.carrier) == 1

    assert op.numbers(pool["id"]) == [replacement["number"]]
    assert replacement["number"] in op.carrier.owned()
    assert routing_table(op.settings).lookup(replacement["number"]) is not None
    assert op.visit() == replacement["number"]


def test_a_slow_purchase_of_the_replacement_holds_up_no_one(op: Operator) -> None:
    pool = op.pool(size=2)
    leaked, kept = op.numbers(pool["id"])
    op.carrier.gate_buys.clear()  # the carrier takes as long as the test wants
    op.carrier.in_carrier.clear()
    answers: list[Response] = []
    request = threading.Thread(target=lambda: answers.append(op.act(pool["id"], leaked, "retire")))
    request.start()
    try:
        assert op.carrier.in_carrier.wait(DEADLINE)
        # Committed before the carrier was asked: retiring, its replacement being bought.
        counts = op.get_pool(pool["id"])["trackers"]
        assert (counts["retiring"], counts["provisioning"], counts["active"]) == (1, 1, 1)
        assert op.visit() == kept
        assert f">{BUSINESS}</Number>" in op.ring(leaked, "CA-meanwhile").text
    finally:
        op.carrier.gate_buys.set()
        request.join(DEADLINE)
    assert answers[0].status_code == 200
    assert answers[0].json()["replacement"]["status"] == "active"


def test_a_smaller_size_does_not_count_the_retiring_number_and_deleting_releases_it(
    op: Operator,
) -> None:
    pool = op.pool(size=2)
    leaked, _kept = op.numbers(pool["id"])
    op.act(pool["id"], leaked, "retire")

    smaller = op.client.patch(f"{API}/{pool['id']}", json={"size": 1}, headers=op.auth)

    assert smaller.status_code == 200, smaller.text
    counts = smaller.json()["trackers"]
    assert (counts["active"], counts["retiring"]) == (1, 1)  # an active one went, not it
    assert op.client.delete(f"{API}/{pool['id']}", headers=op.auth).status_code == 204
    assert op.tracker(leaked)["status"] == "released"
    assert op.carrier.owned() == set()
