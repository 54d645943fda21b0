"""GA4: a call from a visit with a GA cookie is sent to a fake GA4 collect endpoint on loopback
(a real HTTP server), with the visitor's client id, GA session, duration and source; a visit
without one sends nothing and is counted as skipped; the test button shows GA4's validation
messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.app import create_app
from callpool.calls.service import simulate_call
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs, outbox
from callpool.integrations.ga4 import cookies
from callpool.models import Call, OutboxMessage, VisitSession
from callpool.settings import Settings
from tests.calls.conftest import Factory
from tests.dashboard.conftest import post_form, sign_in
from tests.integrations.conftest import Setup, settle_and_deliver


@dataclass
class Hit:
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]


@dataclass
class FakeGa4:
    """Answers /mp/collect 204 whatever it gets (as GA4 does) and /debug/mp/collect with
    ``validation`` as GA4's ``validationMessages``."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    validation: list[dict[str, str]] = field(default_factory=list)

    def collected(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == "/mp/collect"]


@pytest.fixture
def ga4() -> Iterator[FakeGa4]:
    fake = FakeGa4()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            fake.hits.append(Hit(parts.path, parse_qs(parts.query), body))
            if parts.path == "/debug/mp/collect":
                answer = json.dumps({"validationMessages": fake.validation}).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def ga4_settings(settings: Settings, ga4: FakeGa4) -> Settings:
    return settings.model_copy(update={"ga4_endpoint": ga4.url})


@pytest.fixture
def app(ga4_settings: Settings, database: Database) -> FastAPI:
    return create_app(ga4_settings, database)


def call_from(
    factory: Factory, setup: Setup, settings: Settings, name: str, **session: Any
) -> Call:
    now = factory.clock.now()
    tracker = factory.tracker(setup.pool)
    visit = factory.session(
        setup.site, started_at=now - timedelta(minutes=2), campaign="spring-sale", **session
    )
    factory.lease(tracker, visit, now - timedelta(minutes=2), now + timedelta(minutes=28))
    simulate_call(
        factory.database,
        settings,
        to_number=tracker.number,
        from_number="+14155550123",
        call_id=f"CA-{name}",
        answered_seconds=95,
    )
    with factory.database.reader() as db:
        return db.scalars(select(Call).where(Call.provider_call_id == f"CA-{name}")).one()


def connect_ga4(client: TestClient, setup: Setup, **fields: str) -> Any:
    return post_form(
        client,
        "/dashboard/ads",
        f"/dashboard/ads/ga4/{setup.site.id}",
        {
            "measurement_id": "G-ABC123XYZ",
            "api_secret": "s3cret-from-ga",
            "event_name": "phone_call",
            "region": "eu",
            "enabled": "on",
            **fields,
        },
    )


def test_a_call_from_a_visit_with_a_ga_cookie_reaches_ga4_with_its_session(
    client: TestClient,
    database: Database,
    ga4_settings: Settings,
    factory: Factory,
    setup: Setup,
    clock: FrozenClock,
    ga4: FakeGa4,
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    assert connect_ga4(client, setup).status_code == 200

    client_id, sessions = cookies.read(
        ["_ga=GA1.1.1187462153.1733011200", "_ga_ABC123XYZ=GS2.1.s1733050000$o3$g1$t1733050100$j0"]
    )
    call = call_from(
        factory, setup, ga4_settings, "cookie", ga_client_id=client_id, ga_sessions=sessions
    )
    call_from(factory, setup, ga4_settings, "no-cookie")  # GA blocked: skipped
    jobs.deliver(database, ga4_settings)
    assert ga4.collected() == []  # due once the call's status has settled
    settle_and_deliver(database, ga4_settings, clock)

    [hit] = ga4.collected()
    assert hit.query == {"measurement_id": ["G-ABC123XYZ"], "api_secret": ["s3cret-from-ga"]}
    assert hit.body == {
        "client_id": "1187462153.1733011200",
        "timestamp_micros": int(call.started_at.timestamp() * 1_000_000),
        "events": [
            {
                "name": "phone_call",
                "params": {
                    "call_duration": 95,
                    "call_status": "completed",
                    "call_source": "google",
                    "call_medium": "cpc",
                    "call_id": call.id,
                    "engagement_time_msec": 1,
                    "call_campaign": "spring-sale",
                    "session_id": "1733050000",
                },
            }
        ],
    }
    with database.reader() as db:
        states = db.scalars(select(OutboxMessage.state).where(OutboxMessage.kind == "ga4")).all()
    assert states == [outbox.DELIVERED]

    page = client.get("/dashboard/ads")
    assert "1 sent, 0 waiting, 0 failed" in page.text
    assert "<strong>1 skipped</strong>" in page.text

    # A name the user picks; the next call's event carries it.
    assert connect_ga4(client, setup, event_name="tracked_call").status_code == 200
    call_from(factory, setup, ga4_settings, "renamed", ga_client_id=client_id)
    settle_and_deliver(database, ga4_settings, clock)
    assert ga4.collected()[-1].body["events"][0]["name"] == "tracked_call"
    assert "session_id" not in ga4.collected()[-1].body["events"][0]["params"]


def test_the_test_button_shows_ga4s_validation_messages(
    client: TestClient, factory: Factory, setup: Setup, ga4: FakeGa4
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    connect_ga4(client, setup)
    action = f"/dashboard/ads/ga4/{setup.site.id}/test"

    ga4.validation = [
        {
            "fieldPath": "events",
            "description": "Event at index: [0] has invalid name [phone_call].",
            "validationCode": "NAME_INVALID",
        }
    ]
    refused = post_form(client, "/dashboard/ads", action, {})
    assert "GA4 found problems" in refused.text
    assert (
        "events: Event at index: [0] has invalid name [phone_call]. (NAME_INVALID)" in refused.text
    )
    assert [hit.path for hit in ga4.hits] == ["/debug/mp/collect"]  # nothing sent for real

    ga4.validation = []
    valid = post_form(client, "/dashboard/ads", action, {})
    assert "Valid: GA4 accepted the test event" in valid.text
    assert [hit.path for hit in ga4.hits][1:] == ["/debug/mp/collect", "/mp/collect"]
    assert ga4.hits[-1].body["events"][0]["params"]["debug_mode"] is True


def test_bad_settings_are_refused_beside_their_field(
    client: TestClient, setup: Setup, factory: Factory
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    for bad, message in (
        ({"measurement_id": "UA-1234-1"}, "measurement ID, such as G-ABC123XYZ"),
        ({"event_name": "ga_call"}, "not starting with google_, ga_ or firebase_"),
        ({"event_name": "phone call"}, "letters, digits and underscores"),
        ({"region": "mars"}, "global or eu"),
    ):
        refused = connect_ga4(client, setup, **bad)
        assert refused.status_code == 422
        assert message in refused.text
    assert "Send test event" not in client.get("/dashboard/ads").text  # nothing was saved
    other = factory.site(factory.account())
    elsewhere = post_form(
        client,
        "/dashboard/ads",
        f"/dashboard/ads/ga4/{other.id}",
        {"measurement_id": "G-ABC123XYZ", "api_secret": "x", "enabled": "on"},
    )
    assert elsewhere.status_code == 404


def test_cookies_are_read_in_both_ga4_formats() -> None:
    assert cookies.read(None) == (None, None)
    assert cookies.read(
        ["_ga=GA1.2.123.456", "_ga_XY12=GS1.1.1700000000.3.1.1700000100.0.0.0"]
    ) == (
        "123.456",
        {"XY12": "1700000000"},
    )
    assert cookies.read(["_ga=junk", "_ga_XY12=nonsense"]) == (None, None)


def test_the_visit_keeps_the_ga_ids_the_snippet_sends(
    client: TestClient, database: Database, setup: Setup
) -> None:
    def visit(cookies: Any) -> str:
        body = {"k": setup.site.public_key, "u": "https://acme.test/", "g": cookies}
        answer = client.post(
            "/t/visit",
            content=json.dumps(body),
            headers={"origin": "https://acme.test", "content-type": "text/plain"},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["s"])

    with_ga = visit(
        [
            "_ga=GA1.1.1187462153.1733011200",
            "_ga_ABC123XYZ=GS1.1.1733050000.3.1.1733050100.0.0.0",
            "_gat_UA-1=1",
            "_gac_UA-1=1.1733011200.Cj0-not-kept",
        ]
    )
    without = visit(None)
    odd = visit(["_ga=" + "x" * 5000])  # not GA's: ignored, never a refused visit
    with database.reader() as db:
        stored = {
            row.id: (row.ga_client_id, row.ga_sessions) for row in db.scalars(select(VisitSession))
        }
    assert stored[with_ga] == ("1187462153.1733011200", {"ABC123XYZ": "1733050000"})
    assert stored[without] == (None, None)
    assert stored[odd] == (None, None)


def test_a_ga_cookie_written_after_the_visit_comes_with_a_later_beacon(
    client: TestClient, database: Database, setup: Setup
) -> None:
    """GA's tag, a large script, often writes its cookie after our small one asked for the
    number: the next beacon of the session brings it, and the first ids found are kept."""

    def send(path: str, body: dict[str, Any]) -> Any:
        return client.post(
            path,
            content=json.dumps({"k": setup.site.public_key, **body}),
            headers={"origin": "https://acme.test", "content-type": "text/plain"},
        )

    session = send("/t/visit", {"u": "https://acme.test/", "g": None}).json()["s"]
    assert send("/t/heartbeat", {"s": session, "g": None}).status_code == 204
    cookie = ["_ga=GA1.1.555.1733011200", "_ga_ABC123XYZ=GS1.1.1733050000.1.0.1733050000.0.0.0"]
    assert send("/t/heartbeat", {"s": session, "g": cookie}).status_code == 204
    later = ["_ga=GA1.1.999.1733011299"]
    assert (
        send("/t/pageview", {"s": session, "u": "https://acme.test/b", "g": later}).status_code
        == 204
    )
    with database.reader() as db:
        stored = db.get_one(VisitSession, session)
        assert (stored.ga_client_id, stored.ga_sessions) == (
            "555.1733011200",
            {"ABC123XYZ": "1733050000"},
        )


def test_streams_are_set_up_tested_and_removed_through_the_api(
    client: TestClient,
    factory: Factory,
    setup: Setup,
    ga4: FakeGa4,
    ga4_settings: Settings,
    auth: dict[str, str],
    outsider_auth: dict[str, str],
) -> None:
    api = f"/api/v1/integrations/ga4/{setup.site.id}"
    assert client.get("/api/v1/integrations/ga4", headers=auth).json() == []
    assert client.post(f"{api}/test", headers=auth).status_code == 404
    body = {"measurement_id": "g-abc123xyz", "api_secret": "s3cret-from-ga", "region": "eu"}
    saved = client.put(api, json=body, headers=auth)
    assert saved.status_code == 200, saved.text
    stream = saved.json()
    assert (stream["measurement_id"], stream["event_name"], stream["region"]) == (
        "G-ABC123XYZ",
        "phone_call",
        "eu",
    )
    assert "api_secret" not in stream  # written, never answered back

    tested = client.post(f"{api}/test", headers=auth).json()
    assert tested == {"ok": True, "messages": []}
    assert [hit.path for hit in ga4.hits] == ["/debug/mp/collect", "/mp/collect"]
    assert ga4.hits[-1].query["api_secret"] == ["s3cret-from-ga"]

    call_from(factory, setup, ga4_settings, "api", ga_client_id="111.222")
    settle_and_deliver(factory.database, ga4_settings, factory.clock)
    listed = client.get("/api/v1/integrations/ga4", headers=auth).json()
    assert [(s["site_id"], s["sent"], s["skipped"]) for s in listed] == [(setup.site.id, 1, 0)]

    refused = client.put(api, json={**body, "event_name": "google_call"}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["field"] == "event_name"
    assert client.get("/api/v1/integrations/ga4", headers=auth).json()[0]["event_name"] == (
        "phone_call"
    )
    # Another account can neither see, change, test nor remove it.
    assert client.get("/api/v1/integrations/ga4", headers=outsider_auth).json() == []
    assert client.put(api, json=body, headers=outsider_auth).status_code == 404
    assert client.post(f"{api}/test", headers=outsider_auth).status_code == 404
    assert client.delete(api, headers=outsider_auth).status_code == 404

    assert client.delete(api, headers=auth).status_code == 204
    assert client.get("/api/v1/integrations/ga4", headers=auth).json() == []
    assert client.delete(api, headers=auth).status_code == 404
