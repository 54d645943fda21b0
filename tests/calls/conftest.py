"""Calls tests: the shared factories (``tests.factories``), a site, and signed webhooks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from twilio.request_validator import RequestValidator

from callpool.calls import spool
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Account, Call, Site
from callpool.settings import Settings
from tests.factories import Factory
from tests.waiting import wait_for

CALLER = "+14155550123"


@pytest.fixture
def site(factory: Factory, account: Account) -> Site:
    return factory.site(account)


def ago(clock: FrozenClock, **delta: float) -> datetime:
    return clock.now() - timedelta(**delta)


# Webhooks


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def post_webhook(
    client: TestClient,
    settings: Settings,
    path: str,
    params: dict[str, str],
    *,
    provider: str = "twilio",
    settle: bool = True,
) -> Response:
    """POST ``params`` to ``path``, signed the way the carrier signs it; unless ``settle`` is
    False, wait until the app has stored what the webhook spooled (after answering it)."""
    token = settings.twilio_auth_token if provider == "twilio" else settings.secret_key
    assert token
    signature = twilio_signature(token, settings.public_url + path, params)
    answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    if settle:
        settled(settings)
    return answer


def settled(settings: Settings, timeout: float = 20.0) -> None:
    """Wait until the spool is empty: every call and status the app took is stored.

    Empty twice in a row: a listing taken while the drainer renames an entry to claim it may
    see neither name.
    """
    empty_before = False

    def drained() -> bool:
        nonlocal empty_before
        empty, was_empty = spool.pending(settings.call_spool_dir) == 0, empty_before
        empty_before = empty
        return empty and was_empty

    wait_for(drained, "the spool to drain", timeout)


def voice_params(to: str, *, call_id: str = "CA1", caller: str = CALLER) -> dict[str, str]:
    return {
        "CallSid": call_id,
        "AccountSid": "AC00000000000000000000000000000000",
        "To": to,
        "From": caller,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def calls_in(database: Database) -> list[Call]:
    from sqlalchemy import select

    with database.reader() as db:
        return list(db.scalars(select(Call).order_by(Call.id)))
