"""Password guessing against three app processes sharing one database: one throttle for all,
per client address and per account email, and no forged X-Forwarded-For gets around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from callpool.accounts.throttle import PER_ADDRESS, PER_EMAIL
from callpool.db import Database
from tests.security.conftest import PASSWORD, Server, add_owner, log_in, server_env, serving

EMAIL = "owner@acme.test"


def attempt(server: Server, address: str, email: str, password: str, **headers: str) -> int:
    with server.client(address) as client:
        return log_in(client, email, password, **headers)


@pytest.mark.slow
def test_a_spray_across_three_processes_is_throttled_per_address_and_per_email(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    add_owner(database, EMAIL)
    with serving(server_env(database_url), tmp_path, count=3) as servers:
        # One address tries a new email each time, round-robin over the processes, and
        # claims a new address in X-Forwarded-For each time. It connects from 127.0.0.1,
        # which uvicorn would believe by default.
        sprayed = [
            attempt(
                servers[i % 3],
                "127.0.0.1",
                f"user{i}@spray.test",
                "guess",
                **{"X-Forwarded-For": f"203.0.113.{i}"},
            )
            for i in range(PER_ADDRESS + 1)
        ]
        assert sprayed == [400] * PER_ADDRESS + [429]
        # Another address is not held up by that one.
        assert attempt(servers[0], "127.0.0.2", "user0@spray.test", "guess") == 400

        # One email guessed from a new address each time: five tries in all, whichever
        # process answers; then even the right password is refused (no hint which was right).
        guessed = [
            attempt(servers[i % 3], f"127.0.1.{i + 1}", EMAIL, "guess") for i in range(PER_EMAIL)
        ]
        assert guessed == [400] * PER_EMAIL
        assert attempt(servers[1], "127.0.1.200", EMAIL, PASSWORD) == 429
        # Other accounts still sign in from an address that is not over its limit.
        add_owner(database, "teammate@acme.test")
        assert attempt(servers[2], "127.0.0.3", "teammate@acme.test", PASSWORD) == 303
