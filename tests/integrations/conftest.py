"""Real receivers on loopback: an HTTP server that verifies Standard Webhooks signatures with
the ``standardwebhooks`` package, and an ``aiosmtpd`` SMTP server; plain factories for calls."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from callpool import clock as clock_module
from callpool.calls.service import simulate_call
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import events, jobs, outbox
from callpool.models import Account, Call, OutboxMessage, Pool, Site, Tracker
from callpool.settings import Settings
from tests.dashboard.conftest import cheap_argon2
from tests.factories import Factory

__all__ = ["cheap_argon2"]  # autouse: argon2's cheapest parameters for the owners made here

CALLER = "+14155550123"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """Starts at the real time: receivers check ``webhook-timestamp`` against their own clock
    (the specification's 5-minute tolerance), as real ones do."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    previous = clock_module.use(frozen)
    yield frozen
    clock_module.use(previous)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Receivers listen on 127.0.0.1: allowed here, as CALLPOOL_WEBHOOKS_ALLOW_PRIVATE=true does.
    return settings.model_copy(update={"webhooks_allow_private": True})


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> str:
        return str(json.loads(self.body)["type"])


@dataclass
class Receiver:
    """Answers ``fail_first`` requests of each webhook-id with ``failure`` (500), then 200;
    ``always`` answers every request with it. ``hold``: the first request waits until
    ``release`` is set, with ``arrived`` set meanwhile."""

    url: str = ""
    secret: str = ""
    fail_first: int = 0
    failure: int = 500
    always: int | None = None
    hold: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    accepting: threading.Event = field(default_factory=threading.Event)  # set on the first 200
    received: list[Received] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # webhook-ids of requests never answered
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_for(self, webhook_id: str) -> int:
        if self.always is not None:
            return self.always
        seen = sum(1 for r in self.received if r.webhook_id == webhook_id)
        return self.failure if seen < self.fail_first else 200

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.answered == 200]

    def of(self, event: str) -> list[Received]:
        return [r for r in self.received if r.event == event]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            if receiver.hold and not receiver.arrived.is_set():
                receiver.held.append(headers.get("webhook-id", ""))
                receiver.arrived.set()
                receiver.release.wait(30)
                return  # the sender was killed meanwhile: no answer
            try:
                Webhook(receiver.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            with receiver.lock:
                code = receiver.answer_for(headers.get("webhook-id", "")) if verified else 400
                receiver.received.append(Received(headers, body, verified, code))
            if code == 200:
                receiver.accepting.set()
            answer = b'{"ok": true}' if code == 200 else b"receiver says no"
            self.send_response(code)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/callpool?via=test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.release.set()
    server.shutdown()
    server.server_close()


def add_endpoint(
    client: TestClient,
    auth: dict[str, str],
    receiver: Receiver,
    events: Sequence[str] = ("call.started",),
) -> dict[str, Any]:
    """An endpoint for ``receiver``, added through the API; the receiver learns its secret."""
    answer = client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": list(events)}, headers=auth
    )
    assert answer.status_code == 201, answer.text
    endpoint: dict[str, Any] = answer.json()
    receiver.secret = str(endpoint["secret"])
    return endpoint


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    url: str
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(url=f"smtp+plain://127.0.0.1:{port}")
    controller = Controller(_Collect(box), hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()


# Calls


@dataclass(frozen=True)
class Setup:
    account: Account
    site: Site
    pool: Pool
    tracker: Tracker


@pytest.fixture
def setup(factory: Factory, account: Account) -> Setup:
    site = factory.site(account)
    pool = factory.pool(site)
    return Setup(account, site, pool, factory.tracker(pool))


def visit_and_call(
    factory: Factory,
    setup: Setup,
    settings: Settings,
    call_id: str,
    *,
    answered_seconds: int | None = 60,
) -> int:
    """A visit from a Google ad to two pages, holding the tracker, then a call to it; stored
    through the same path as a carrier's webhooks. Returns the call's id."""
    now = factory.clock.now()
    session = factory.session(
        setup.site,
        started_at=now - timedelta(minutes=4),
        campaign="spring-sale",
        term="emergency plumber",
        gclid="Cj0KCQ-test",
        landing_url="https://acme.test/drains?utm_source=google",
    )
    factory.pageview(
        session, "https://acme.test/drains?utm_source=google", now - timedelta(minutes=4)
    )
    factory.pageview(session, "https://acme.test/contact", now - timedelta(minutes=1))
    factory.lease(setup.tracker, session, now - timedelta(minutes=4), now + timedelta(minutes=26))
    routed = simulate_call(
        factory.database,
        settings,
        to_number=setup.tracker.number,
        from_number=CALLER,
        call_id=call_id,
        answered_seconds=answered_seconds,
    )
    assert routed is not None
    with factory.database.reader() as db:
        return db.scalars(select(Call.id).where(Call.provider_call_id == call_id)).one()


def deliver_until(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    done: Callable[[], bool],
    *,
    rounds: int = 60,
) -> int:
    """Run the worker's delivery job, moving the clock to the next attempt in between, until
    ``done``; returns the rounds it took. Bounded: no test waits forever."""
    for round_ in range(rounds):
        jobs.deliver(database, settings)
        if done():
            return round_ + 1
        next_at = next_attempt(database)
        if next_at is not None and next_at > clock.now():
            clock.set(next_at)
    raise AssertionError(f"not done after {rounds} rounds")


def settle_and_deliver(database: Database, settings: Settings, clock: FrozenClock) -> None:
    """A call's end is told once its final status has settled: move past that wait, let the
    worker write the messages, then deliver them."""
    clock.advance(seconds=events.SETTLE_CALL.total_seconds())
    jobs.deliver(database, settings)  # the settle message writes the webhooks and emails
    jobs.deliver(database, settings)


def next_attempt(database: Database) -> datetime | None:
    with database.reader() as db:
        found: datetime | None = db.scalar(
            select(OutboxMessage.next_attempt_at)
            .where(OutboxMessage.state == outbox.PENDING)
            .order_by(OutboxMessage.next_attempt_at)
            .limit(1)
        )
        return found
