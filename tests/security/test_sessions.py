"""Ended sessions stay ended on every app process: a stolen cookie replayed after logout, a
password changed by the operator."""

from __future__ import annotations

import re
import subprocess
import sys
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


def test_setpassword_signs_the_user_out_of_every_process(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    add_owner(database, EMAIL)
    env = server_env(database_url)
    with serving(env, tmp_path) as (server,), server.client() as owner:
        assert log_in(owner, EMAIL, PASSWORD) == 303
        command = ["setpassword", "--email", EMAIL, "--password", "a brand new passphrase"]
        changed = subprocess.run(
            [sys.executable, "-m", "callpool", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert changed.returncode == 0, changed.stderr
        assert "ended their sessions" in changed.stdout
        assert owner.get("/dashboard").status_code == 303
        assert log_in(owner, EMAIL, PASSWORD) == 400
        assert log_in(owner, EMAIL, "a brand new passphrase") == 303
