"""A flood of wrong passwords must not slow the visit path (issue 10): argon2 runs off the
event loop, with no transaction open, in a few threads of its own."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from callpool.db import Database
from callpool.models import Site
from tests.security.conftest import Server, log_in, server_env, serving

FLOOD = 40
VISIT_DEADLINE_SECONDS = 2.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def wrong_login(server: Server, number: int) -> int:
    # Each guess from its own address and for its own email: no throttle cuts the flood short.
    with server.client(f"127.0.2.{number + 1}", timeout=120) as client:
        return log_in(client, f"nobody{number}@flood.test", "wrong password")


@pytest.mark.slow
def test_visits_keep_answering_during_a_login_flood(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'demo.db'}"
    # `demo` with no secret configured: it generates one for its data, like `serve`.
    env = server_env(url, CALLPOOL_SECRET_KEY="", CALLPOOL_DEMO_DATABASE_URL=url)
    with serving(env, tmp_path, command="demo") as (server,):
        assert stat.S_IMODE((data / "demo.db.secret").stat().st_mode) == 0o600
        database = Database(url)
        with database.reader() as db:
            site_key = db.scalars(select(Site.public_key)).one()
        database.dispose()
        headers = {"Origin": server.base, "Content-Type": "text/plain", "User-Agent": BROWSER}
        body: dict[str, str] = {"k": site_key, "u": f"{server.base}/demo/"}
        answers: list[int | str] = []
        with (
            server.client(timeout=VISIT_DEADLINE_SECONDS) as visitor,
            ThreadPoolExecutor(FLOOD) as pool,
        ):
            flood = [pool.submit(wrong_login, server, number) for number in range(FLOOD)]
            while not all(guess.done() for guess in flood):
                try:
                    response = visitor.post("/t/visit", content=json.dumps(body), headers=headers)
                except httpx2.TimeoutException:
                    answers.append("timeout")
                    continue
                answers.append(response.status_code)
                if response.status_code == 200:  # the same visitor and session from now on
                    answer = response.json()
                    body.update(v=answer["v"], s=answer["s"])
            guesses = [guess.result() for guess in flood]
    assert guesses == [400] * FLOOD
    assert len(answers) >= 5, "the flood ended before visits could be measured against it"
    assert set(answers) == {200}, answers
