"""Call emails and daily digests reach a real SMTP server (aiosmtpd on loopback), sent by the
worker from the outbox; without SMTP the dashboard says email is off."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from callpool.calls.service import receive_call, receive_status, replay_spool
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.integrations import jobs
from callpool.integrations.email import notices
from callpool.models import Account, OutboxMessage
from callpool.settings import Settings
from callpool.telephony.base import InboundCall, StatusUpdate
from tests.calls.conftest import Factory
from tests.dashboard.conftest import post_form, sign_in
from tests.integrations.conftest import (
    CALLER,
    Mailbox,
    Receiver,
    Setup,
    add_endpoint,
    settle_and_deliver,
    visit_and_call,
)


@pytest.fixture
def mail_settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return settings.model_copy(update={"smtp_url": mailbox.url, "email_from": "calls@acme.test"})


def choose(database: Database, user_id: int, account_id: int, calls: str, digest: bool) -> None:
    notices.choose(database, account_id, user_id, calls=calls, daily_digest=digest)


def test_users_get_the_call_emails_they_chose(
    database: Database,
    mail_settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    mailbox: Mailbox,
) -> None:
    everything = factory.user(setup.account, "owner@acme.test")
    missed_only = factory.user(setup.account, "frontdesk@acme.test")
    factory.user(setup.account, "quiet@acme.test")  # never chose: no email
    choose(database, everything, setup.account.id, notices.ALL, False)
    choose(database, missed_only, setup.account.id, notices.MISSED, False)

    answered = visit_and_call(factory, setup, mail_settings, "CA-answered")
    missed = visit_and_call(factory, setup, mail_settings, "CA-missed", answered_seconds=None)
    settle_and_deliver(database, mail_settings, clock)

    to_owner = mailbox.to("owner@acme.test")
    assert len(to_owner) == 2
    assert mailbox.to("quiet@acme.test") == []
    [to_front_desk] = mailbox.to("frontdesk@acme.test")
    assert to_front_desk["Subject"].startswith(f"Missed call from {CALLER}")
    assert f"/dashboard/calls/{missed}" in to_front_desk.get_content()

    mail = next(m for m in to_owner if m["Subject"].startswith("Call from"))
    assert mail["From"] == "calls@acme.test"
    assert mail["Subject"] == f"Call from {CALLER} to {setup.tracker.number} (google / cpc)"
    text = mail.get_content()
    assert f"Caller:        {CALLER}" in text
    assert f"Number called: {setup.tracker.number}" in text
    assert "Source:        google / cpc" in text
    assert "Campaign:      spring-sale" in text
    assert "Landing page:  https://acme.test/drains?utm_source=google" in text
    assert f"https://callpool.test/dashboard/calls/{answered}" in text


def test_a_daily_digest_lists_yesterdays_calls_once(
    database: Database,
    mail_settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    mailbox: Mailbox,
) -> None:
    owner = factory.user(setup.account)
    choose(database, owner, setup.account.id, notices.OFF, True)
    first = visit_and_call(factory, setup, mail_settings, "CA-one")
    second = visit_and_call(factory, setup, mail_settings, "CA-two", answered_seconds=None)
    clock.advance(days=1)

    assert jobs.daily(database, mail_settings) == 1
    assert jobs.daily(database, mail_settings) == 0  # once a day, however often it runs
    jobs.deliver(database, mail_settings)

    [digest] = mailbox.to("owner@acme.test")
    day = (clock.now() - timedelta(days=1)).date().isoformat()
    assert digest["Subject"] == f"Calls on {day}: 2 (1 missed)"
    text = digest.get_content()
    assert f"/dashboard/calls/{first}" in text
    assert f"/dashboard/calls/{second}" in text
    assert "spring-sale" in text


def test_the_digest_covers_the_accounts_day_in_its_time_zone(
    database: Database,
    mail_settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
    mailbox: Mailbox,
) -> None:
    with database.session() as db:
        account = db.get(Account, setup.account.id)
        assert account is not None
        account.time_zone = "America/Chicago"  # UTC-6 in February
    owner = factory.user(setup.account)
    choose(database, owner, setup.account.id, notices.OFF, True)
    clock.set(datetime(2026, 2, 10, 3, 0, tzinfo=UTC))  # 9 February, 21:00 in Chicago
    evening = visit_and_call(factory, setup, mail_settings, "CA-evening")
    clock.set(datetime(2026, 2, 10, 7, 0, tzinfo=UTC))  # 10 February, 01:00 in Chicago
    night = visit_and_call(factory, setup, mail_settings, "CA-night")

    clock.set(datetime(2026, 2, 11, 5, 0, tzinfo=UTC))  # 10 February, 23:00 in Chicago
    assert jobs.daily(database, mail_settings) == 1  # the 9th's: the 10th is not over
    clock.set(datetime(2026, 2, 11, 6, 30, tzinfo=UTC))  # 11 February, 00:30 in Chicago
    assert jobs.daily(database, mail_settings) == 1
    jobs.deliver(database, mail_settings)

    ninth, tenth = sorted(mailbox.to("owner@acme.test"), key=lambda mail: str(mail["Subject"]))
    assert ninth["Subject"] == "Calls on 2026-02-09: 1 (0 missed)"
    assert f"/dashboard/calls/{evening}" in ninth.get_content()
    assert tenth["Subject"] == "Calls on 2026-02-10: 1 (0 missed)"
    text = tenth.get_content()
    assert text.startswith("1 calls on 2026-02-10 (America/Chicago), 0 missed.")
    assert text.splitlines()[2].startswith("01:00  ")  # the call's time on Chicago's clock
    assert f"/dashboard/calls/{night}" in text


def test_without_smtp_email_is_off_and_no_email_is_queued(
    client: TestClient,
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    factory: Factory,
    setup: Setup,
) -> None:
    factory.user(setup.account)
    sign_in(client, "owner@acme.test")
    page = client.get("/dashboard/email")
    assert page.status_code == 200
    assert "Email is off" in page.text
    chosen = post_form(
        client, "/dashboard/email", "/dashboard/email", {"calls": "missed", "daily_digest": "on"}
    )
    assert chosen.status_code == 200
    assert 'value="missed" checked' in chosen.text
    visit_and_call(factory, setup, settings, "CA-unmailed", answered_seconds=None)
    clock.advance(days=1)
    assert jobs.daily(database, settings) == 0
    jobs.deliver(database, settings)
    with database.reader() as db:
        kinds = db.scalars(select(OutboxMessage.kind)).all()
    assert "email" not in kinds


def test_with_smtp_the_email_page_does_not_say_off(
    mail_settings: Settings, database: Database, setup: Setup, factory: Factory
) -> None:
    from callpool.app import create_app

    factory.user(setup.account)
    with TestClient(create_app(mail_settings, database)) as client:
        sign_in(client, "owner@acme.test")
        page = client.get("/dashboard/email").text
        assert "Email is off" not in page
        assert "previous day's calls (days in UTC)" in page  # the account's zone


def test_a_call_is_told_with_its_final_status_when_the_legs_report_out_of_order(
    client: TestClient,
    auth: dict[str, str],
    database: Database,
    mail_settings: Settings,
    clock: FrozenClock,
    setup: Setup,
    mailbox: Mailbox,
    receiver: Receiver,
    factory: Factory,
) -> None:
    """The inbound leg's "completed" comes first; the forwarded leg's "no-answer" outranks it
    a moment later. The webhook and the missed-call email tell the call as missed, once."""
    add_endpoint(client, auth, receiver, ["call.completed"])
    user = factory.user(setup.account, "frontdesk@acme.test")
    choose(database, user, setup.account.id, notices.MISSED, False)
    inbound = InboundCall(call_id="CA-legs", to_number=setup.tracker.number, from_number=CALLER)
    assert receive_call(database, mail_settings, "sandbox", inbound) is not None
    receive_status(mail_settings, StatusUpdate("CA-legs", "completed", duration=31, dialed=False))
    replay_spool(database, mail_settings)
    jobs.deliver(database, mail_settings)
    assert receiver.received == []  # the final status may still change: not told yet
    receive_status(mail_settings, StatusUpdate("CA-legs", "no-answer", dialed=True))
    replay_spool(database, mail_settings)

    settle_and_deliver(database, mail_settings, clock)

    [told] = receiver.received
    assert json.loads(told.body)["data"]["call"]["status"] == "no-answer"
    [mail] = mailbox.to("frontdesk@acme.test")
    assert mail["Subject"].startswith(f"Missed call from {CALLER}")
    settle_and_deliver(database, mail_settings, clock)
    assert len(receiver.received) == 1
    assert len(mailbox.messages) == 1
