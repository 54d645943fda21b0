"""The sandbox's simulated calls reach only a server whose provider is the sandbox."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callpool.app import create_app
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import Call
from callpool.settings import Settings
from callpool.telephony.sandbox.simulate import status_request, voice_request


def test_sandbox_webhooks_are_404_when_the_provider_is_twilio(
    settings: Settings, database: Database, clock: FrozenClock
) -> None:
    twilio = settings.model_copy(update={"telephony_provider": "twilio"})
    with TestClient(create_app(twilio, database)) as client:
        # Correctly signed with the secret key: a forgery by anyone who knows it.
        call = voice_request(twilio, to_number="+15125550100", from_number="+15125550999")
        assert call.path.startswith("/webhooks/sandbox/")
        assert client.post(call.path, data=call.data, headers=call.headers).status_code == 404
        done = status_request(twilio, call_id=call.call_id, status="completed", duration=5)
        assert client.post(done.path, data=done.data, headers=done.headers).status_code == 404
    with database.reader() as db:
        assert db.scalar(select(func.count()).select_from(Call)) == 0
