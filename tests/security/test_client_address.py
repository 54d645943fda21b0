"""Which address a request comes from: the socket's, unless a trusted proxy forwarded it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request

from callpool.accounts import users
from callpool.app import create_app
from callpool.client_address import client_address
from callpool.clock import FrozenClock
from callpool.db import Database
from callpool.models import LoginFailures
from callpool.settings import Settings
from tests.security.conftest import SECRET, log_in

CASES = [
    # trusted proxies, socket peer, X-Forwarded-For headers → the client
    ("", "127.0.0.1", ["203.0.113.9"], "127.0.0.1"),  # nobody trusted: the header is ignored
    ("10.0.0.1", "127.0.0.1", ["203.0.113.9"], "127.0.0.1"),  # not from our proxy
    ("127.0.0.1", "127.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # left part forged
    ("127.0.0.1", "127.0.0.1", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),  # two headers
    ("127.0.0.1,10.0.0.0/8", "127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], "198.51.100.7"),
    ("127.0.0.1,10.0.0.0/8", "127.0.0.1", ["10.4.4.4, 10.1.2.3"], "10.4.4.4"),  # all ours
    ("127.0.0.1", "127.0.0.1", [], "127.0.0.1"),  # a health check from the proxy itself
    ("127.0.0.1", "127.0.0.1", ["not-an-address"], "127.0.0.1"),
    ("::1", "::1", ["2001:db8::1"], "2001:db8::1"),
    ("127.0.0.1", "testclient", ["203.0.113.9"], "testclient"),
]


def _settings(trusted: str) -> Settings:
    return Settings(secret_key=SECRET, trusted_proxies=trusted, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "expected"), CASES)
def test_the_client_is_the_right_most_hop_no_trusted_proxy_added(
    trusted: str, peer: str, forwarded: list[str], expected: str
) -> None:
    app = SimpleNamespace(state=SimpleNamespace(settings=_settings(trusted)))
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    request = Request({"type": "http", "client": (peer, 5000), "headers": headers, "app": app})
    assert client_address(request) == expected


def test_a_bad_proxy_list_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="CALLPOOL_TRUSTED_PROXIES"):
        _settings("10.0.0.0/8,not-a-network")


def test_the_login_throttle_counts_the_address_the_trusted_proxy_saw(
    settings: Settings, database: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    proxied = settings.model_copy(
        update={"trusted_proxies": _settings("127.0.0.9").trusted_proxies}
    )
    app = create_app(proxied, database)
    forged = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    with TestClient(app, client=("127.0.0.9", 5000)) as via_proxy:
        assert log_in(via_proxy, "a@acme.test", "guess", **forged) == 400
    with TestClient(app, client=("127.0.0.8", 5000)) as direct:
        assert log_in(direct, "b@acme.test", "guess", **forged) == 400
    with database.reader() as db:
        keys = set(db.scalars(select(LoginFailures.key).where(LoginFailures.key.like("address:%"))))
    assert keys == {"address:198.51.100.7", "address:127.0.0.8"}
