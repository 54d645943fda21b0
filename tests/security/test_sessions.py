"""A stolen dashboard cookie, replayed against another app process after its owner logged out."""

from __future__ import annotations

import re
from pathlib import Path

from callpool.db import Database
from tests.security.conftest import PASSWORD, add_owner, log_in, server_env, serving

EMAIL = "owner@acme.test"


def test_a_cookie_replayed_after_logout_is_refused_by_another_process(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    add_owner(database, EMAIL)
    with (
        serving(server_env(database_url), tmp_path, count=2) as (first, second),
        first.client() as owner,
        second.client() as thief,
    ):
        assert log_in(owner, EMAIL, PASSWORD) == 303
        thief.cookies.set("callpool_session", owner.cookies["callpool_session"])
        assert thief.get("/dashboard").status_code == 200  # any process serves a session

        page = owner.get("/dashboard")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match
        assert owner.post("/dashboard/logout", data={"csrf": match.group(1)}).status_code == 303

        replay = thief.get("/dashboard")
        assert replay.status_code == 303
        assert replay.headers["location"].startswith("/dashboard/login")
